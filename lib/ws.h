/* ws.h - RFC 6455 WebSocket framing, shared by the server side (lib/http.c: the
 * /api/stream of node and collector) and the clients (ayaflowctl watch, the e2e test
 * client): the handshake's accept key, frame encoding, and an incremental decoder that
 * turns a byte stream into whole messages and control frames. Pure functions over
 * buffers: no sockets here, so every byte can be unit tested and fuzzed.
 *
 * Errors are negative errno values that map to close codes (ws_close_code_of):
 * -EPROTO protocol error (1002), -EMSGSIZE message too big (1009), -EILSEQ text that is
 * not UTF-8 (1007). */
#ifndef AYAFLOW_WS_H
#define AYAFLOW_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_GUID	       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN     24 /* base64 of the 16-byte nonce, without the NUL */
#define WS_ACCEPT_LEN  28 /* base64 of a SHA-1, without the NUL */
#define WS_HEADER_MAX  14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_CONTROL_MAX 125
#define WS_MASK_LEN    4

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
	WS_CLOSE_BAD_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
	WS_CLOSE_TRY_AGAIN = 1013,
};

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + WS_GUID)). 0 or
 * -EINVAL (key NULL or not a valid key, see ws_key_valid) or -EIO (GnuTLS failed). */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);
/* Whether key is the base64 encoding of 16 bytes, as RFC 6455 4.1 requires. */
bool ws_key_valid(const char *key);
/* A client's Sec-WebSocket-Key: base64 of the 16-byte nonce. 0 or -EIO. */
int ws_client_key(const uint8_t nonce[16], char out[WS_KEY_LEN + 1]);
/* Fills buf with unpredictable bytes (for nonces and masks). 0 or -EIO. */
int ws_random(void *buf, size_t len);

/* Bytes of a frame with a payload of len, masked (client) or not (server). */
size_t ws_frame_size(size_t len, bool masked);
/* Writes one frame (FIN set unless !fin) into out[0..cap): mask NULL for a server frame,
 * else the 4-byte mask of a client frame. Returns its size, or -ENOSPC when cap is too
 * small, -EINVAL for a control frame over 125 bytes or fragmented. */
ssize_t ws_frame_encode(uint8_t *out, size_t cap, enum ws_opcode op, bool fin, const void *payload,
			size_t len, const uint8_t *mask);
/* A close frame with code and reason (may be NULL; cut to fit 125 bytes); code 0 writes
 * an empty close frame. Same returns as ws_frame_encode. */
ssize_t ws_close_encode(uint8_t *out, size_t cap, uint16_t code, const char *reason,
			const uint8_t *mask);
/* The close code to send for a decoder error (-EPROTO, -EMSGSIZE, -EILSEQ, other). */
uint16_t ws_close_code_of(int err);
/* Whether a close frame may carry code (RFC 6455 7.4). */
bool ws_close_code_valid(uint16_t code);
/* Whether s[0..len) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool ws_utf8_valid(const uint8_t *s, size_t len);

/* One decoded unit: a whole data message (fragments joined) or one control frame. For
 * WS_OP_CLOSE, code is the close code (WS_CLOSE_NO_STATUS when the frame had none) and
 * data/len the reason. data is valid until the next ws_decoder_feed or fini. */
struct ws_message {
	enum ws_opcode op;
	const uint8_t *data;
	size_t len;
	uint16_t code;
};

/* Incremental decoder state; fields are private to ws.c. */
struct ws_decoder {
	bool expect_masked; /* server side: client frames must be masked */
	size_t max_message; /* larger messages fail with -EMSGSIZE */
	int error;	    /* sticky: once failed, every feed returns it */
	/* the frame being read */
	uint8_t hdr[WS_HEADER_MAX];
	size_t hdr_have;
	size_t hdr_need;
	bool in_payload;
	uint8_t op;
	bool fin;
	bool masked;
	uint8_t mask[WS_MASK_LEN];
	uint64_t payload_len;
	uint64_t payload_have;
	/* a control frame's payload */
	uint8_t ctl[WS_CONTROL_MAX];
	/* the data message being assembled */
	bool in_message;
	uint8_t msg_op;
	uint8_t *buf;
	size_t len;
	size_t cap;
};

void ws_decoder_init(struct ws_decoder *d, bool expect_masked, size_t max_message);
void ws_decoder_fini(struct ws_decoder *d);
/* Reads bytes from buf[0..len) and stops after the first complete message: returns 1
 * with *msg set, 0 when all of buf was consumed without completing one, or a negative
 * error (see the top; sticky). *used is the number of bytes consumed, also on 0 and 1.
 * Call again with the rest of the buffer after a 1. -ENOMEM when out of memory. */
int ws_decoder_feed(struct ws_decoder *d, const uint8_t *buf, size_t len, size_t *used,
		    struct ws_message *msg);

#endif
