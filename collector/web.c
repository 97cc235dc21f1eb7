/* web.c - looks up the dashboard's embedded files (see web.h). The files themselves
 * are C arrays generated from collector/web/ by collector/web/embed.cmake. */
#include "web.h"

#include <errno.h>
#include <string.h>

int web_find(const char *path, const uint8_t **data, size_t *len, const char **content_type)
{
	if (!path)
		return -ENOENT;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (const struct web_asset *a = web_assets; a->path; a++) {
		if (strcmp(a->path, path) == 0) {
			*data = a->data;
			*len = a->len;
			*content_type = a->content_type;
			return 0;
		}
	}
	return -ENOENT;
}
