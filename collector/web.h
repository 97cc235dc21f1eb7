/* web.h - the dashboard page of ayaflow-collector (collector/web/), embedded in the
 * binary at build time (collector/web/embed.cmake generates gen/web_assets.c), so the
 * page needs no file on disk and no internet access. api.c serves it on GET / through
 * web_find. */
#ifndef AYAFLOW_COLLECTOR_WEB_H
#define AYAFLOW_COLLECTOR_WEB_H

#include <stddef.h>
#include <stdint.h>

/* One embedded file; the table web_assets[] is generated and ends with path == NULL. */
struct web_asset {
	const char *path; /* "/index.html" */
	const char *content_type;
	const uint8_t *data;
	size_t len;
};

extern const struct web_asset web_assets[];

/* The Content-Security-Policy the page is served with: everything from the collector
 * itself, nothing inline, nothing from elsewhere. */
#define WEB_CONTENT_SECURITY_POLICY                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "   \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Finds the asset served at path ("/" is "/index.html"). On success returns 0 and sets
 * *data, *len (static, never freed) and *content_type (a static string); otherwise
 * returns -ENOENT and leaves them alone. */
int web_find(const char *path, const uint8_t **data, size_t *len, const char **content_type);

#endif
