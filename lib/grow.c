/* grow.c - doubling growth of heap buffers (see grow.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

int grow_reserve(void **buf, size_t *cap, size_t want, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *p;

	if (want <= *cap)
		return 0;
	if (ncap == 0)
		ncap = 1;
	while (ncap < want) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (size && ncap > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*buf, ncap * size);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = ncap;
	return 0;
}
