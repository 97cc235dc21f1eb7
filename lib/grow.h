/* grow.h - the one growth rule for heap buffers that grow by appending: capacity doubles
 * from a first size, so n appends cost O(n) copies. */
#ifndef AYAFLOW_GROW_H
#define AYAFLOW_GROW_H

#include <stddef.h>

/* Makes *buf (capacity *cap elements of size bytes) hold at least want elements: from
 * first elements, or *cap when nonzero, doubled until enough. Contents are kept. 0, or
 * -ENOMEM (no memory, or the size overflows) with *buf and *cap unchanged. */
int grow_reserve(void **buf, size_t *cap, size_t want, size_t size, size_t first);

#endif
