/* tls.h - the TLS ClientHello parser of deep inspection. The classifier hands user space a
 * bounded snippet (at most 512 bytes, possibly cut short) of the first bytes a client sent
 * on a TLS connection; this module reads the server name (SNI) and the versions offered,
 * so that the node can label the connection with the host it is for.
 *
 * Pure functions: no allocation, no global state, no I/O. Every length in the input is
 * checked against its enclosing length (inconsistent: TLS_ERR_MALFORMED) and against the
 * snippet (ends too early: TLS_ERR_SHORT), so a cut snippet is never called malformed.
 * The caller owns every buffer; the result struct holds no pointers.
 *
 * Only the first record is read: a ClientHello continued in a second record (handshake
 * length > record length) is parsed as far as the first record goes. */
#ifndef AYAFLOW_NODE_TLS_H
#define AYAFLOW_NODE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_SNI_MAX	   255
#define TLS_RECORD_MAX	   16384 /* a plaintext record's largest length (RFC 8446 5.1) */
#define TLS_SESSION_ID_MAX 32

#define TLS_VERSION_SSL3_0 0x0300
#define TLS_VERSION_TLS1_0 0x0301
#define TLS_VERSION_TLS1_1 0x0302
#define TLS_VERSION_TLS1_2 0x0303
#define TLS_VERSION_TLS1_3 0x0304

/* Why a snippet was rejected; indexes the node's per-reason counters. */
enum tls_error {
	TLS_OK = 0,
	TLS_ERR_NOT_HANDSHAKE,	  /* record type is not 22 or the record version not 0x03xx */
	TLS_ERR_NOT_CLIENT_HELLO, /* a handshake record, but not a ClientHello */
	TLS_ERR_SHORT,		  /* the snippet ends before the SNI could be read */
	TLS_ERR_MALFORMED,	  /* lengths inconsistent with each other, duplicate SNI */
	TLS_ERR_NO_SNI,		  /* every extension parsed, no host_name among them */
	TLS_ERR_BAD_SNI,	  /* a host_name empty, over 255 bytes or with a byte not
				   * in [A-Za-z0-9._-] (a NUL, a space, a '/', ...) */
	TLS_ERR_MAX
};

struct tls_client_hello {
	uint16_t record_version;
	uint16_t hello_version; /* legacy_version */
	/* The highest 0x03xx version of the supported_versions extension (GREASE values
	 * 0x?a?a and other majors ignored); hello_version without the extension, or when
	 * the snippet ends before it (then extensions_cut is set). */
	uint16_t max_version;
	bool has_sni;		   /* always true on success */
	char sni[TLS_SNI_MAX + 1]; /* the first host_name, lower-cased, NUL-terminated */
	bool extensions_cut;	   /* the snippet ended before the last extension */
};

/* Parses the ClientHello in the TLS record at buf[0..len). Returns 0 and fills *out when
 * the server_name extension lies complete within the snippet (later extensions are read
 * as far as the snippet goes); otherwise -EINVAL, *out untouched. *why (may be NULL) is set
 * on every return: TLS_OK on success, TLS_ERR_SHORT if the snippet ends before the SNI
 * (or before the end of the extensions without one), TLS_ERR_NO_SNI if all extensions
 * were read and none is server_name. */
int tls_parse_client_hello(const uint8_t *buf, size_t len, struct tls_client_hello *out,
			   enum tls_error *why);

/* Static strings, never NULL: "not_handshake", "not_client_hello", "short", "malformed",
 * "no_sni", "bad_sni" ("ok" for TLS_OK, "unknown" out of range). */
const char *tls_error_name(enum tls_error e);
/* "SSL3.0", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3", else "unknown". */
const char *tls_version_name(uint16_t v);

#endif
