/* wsclient.c - the WebSocket test client of tests/e2e/ws_stream.sh: its own TCP socket,
 * handshake and frames (lib/ws.c), so that the server side of /api/stream is checked by
 * code that shares nothing with lib/http.c. Every mode gives up after 30 s (SIGALRM).
 *
 *   wsclient HOST PORT recv N          N text messages, one per line on stdout
 *   wsclient HOST PORT ping PAYLOAD    ping; the pong must carry PAYLOAD
 *   wsclient HOST PORT close CODE      close with CODE; the echo must carry CODE, then EOF
 *   wsclient HOST PORT many N M        N clients at once, each must get M messages
 *   wsclient HOST PORT hold            upgrade, print "upgraded", wait to be killed
 *   wsclient HOST PORT status          print the HTTP status of the upgrade answer
 *
 * Exit: 0 as expected, 1 otherwise (with the reason on stderr). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ws.h"

#define WSC_TIMEOUT_S 30 /* WSCLIENT_TIMEOUT_S overrides (load.sh: an overloaded server) */
#define WSC_MAX	      512

struct wsc {
	int fd;
	struct ws_decoder dec;
	uint8_t buf[65536];
	size_t off, len;
	long status;
	unsigned int got;
};

static void wsc_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void wsc_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "wsclient: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int wsc_connect(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int fd;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		wsc_die("cannot resolve %s", host);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		wsc_die("connect: %s", strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static void wsc_send(struct wsc *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			wsc_die("send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Reads more; false at EOF. */
static bool wsc_fill(struct wsc *c)
{
	ssize_t n;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->buf))
		wsc_die("%s", "input buffer full");
	do {
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		wsc_die("recv: %s", strerror(errno));
	c->len += (size_t)n;
	return n > 0;
}

/* Sends the upgrade request and reads the answer's head: the HTTP status in c->status;
 * for a 101 the accept key is checked. */
static void wsc_handshake(struct wsc *c, const char *host, const char *port)
{
	char key[WS_KEY_LEN + 1], want[WS_ACCEPT_LEN + 1], req[512], *end, *acc;
	uint8_t nonce[16];
	int n;

	if (ws_random(nonce, sizeof(nonce)) < 0 || ws_client_key(nonce, key) < 0 ||
	    ws_accept_key(key, want) < 0)
		wsc_die("%s", "cannot make a key");
	n = snprintf(req, sizeof(req),
		     "GET /api/stream HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
		     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n",
		     host, port, key);
	wsc_send(c, req, (size_t)n);
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
		if (!wsc_fill(c))
			wsc_die("%s", "connection closed during the handshake");
	}
	*end = '\0';
	c->off = (size_t)((uint8_t *)end - c->buf) + 4;
	if (sscanf((char *)c->buf, "HTTP/1.1 %ld", &c->status) != 1)
		wsc_die("not an HTTP answer: %.80s", (char *)c->buf);
	if (c->status != 101)
		return;
	acc = strcasestr((char *)c->buf, "\r\nSec-WebSocket-Accept: ");
	if (!acc || strncmp(acc + 24, want, WS_ACCEPT_LEN) != 0)
		wsc_die("wrong or missing Sec-WebSocket-Accept in: %s", (char *)c->buf);
	ws_decoder_init(&c->dec, false, 1 << 20);
}

static void wsc_open(struct wsc *c, const char *host, const char *port)
{
	memset(c, 0, sizeof(*c));
	c->fd = wsc_connect(host, port);
	wsc_handshake(c, host, port);
	if (c->status != 101)
		wsc_die("upgrade refused: HTTP status %s", strtok((char *)c->buf + 9, "\r"));
}

/* The next message or control frame; false at EOF. */
static bool wsc_next(struct wsc *c, struct ws_message *m)
{
	size_t used;
	int ret;

	for (;;) {
		ret = ws_decoder_feed(&c->dec, c->buf + c->off, c->len - c->off, &used, m);
		c->off += used;
		if (ret < 0)
			wsc_die("bad frame from the server: %s", strerror(-ret));
		if (ret == 1)
			return true;
		if (!wsc_fill(c))
			return false;
	}
}

static void wsc_control(struct wsc *c, enum ws_opcode op, const void *payload, size_t len)
{
	uint8_t frame[WS_CONTROL_MAX + WS_HEADER_MAX], mask[4];
	ssize_t n;

	if (ws_random(mask, sizeof(mask)) < 0)
		wsc_die("%s", "no random mask");
	n = ws_frame_encode(frame, sizeof(frame), op, true, payload, len, mask);
	if (n < 0)
		wsc_die("%s", "cannot encode a frame");
	wsc_send(c, frame, (size_t)n);
}

static int wsc_recv(struct wsc *c, unsigned long n)
{
	struct ws_message m;

	while (n > 0) {
		if (!wsc_next(c, &m))
			wsc_die("%s", "connection closed before all messages came");
		if (m.op == WS_OP_TEXT) {
			printf("%.*s\n", (int)m.len, (const char *)m.data);
			fflush(stdout);
			n--;
		} else if (m.op == WS_OP_CLOSE) {
			wsc_die("%s", "the server closed the stream");
		}
	}
	return 0;
}

static int wsc_ping(struct wsc *c, const char *payload)
{
	struct ws_message m;

	wsc_control(c, WS_OP_PING, payload, strlen(payload));
	for (;;) {
		if (!wsc_next(c, &m))
			wsc_die("%s", "connection closed before the pong");
		if (m.op == WS_OP_PONG)
			break;
		if (m.op != WS_OP_TEXT)
			wsc_die("%s", "unexpected frame instead of the pong");
	}
	if (m.len != strlen(payload) || memcmp(m.data, payload, m.len) != 0)
		wsc_die("pong payload differs from '%s'", payload);
	printf("pong %.*s\n", (int)m.len, (const char *)m.data);
	return 0;
}

static int wsc_close(struct wsc *c, const char *code_s)
{
	uint8_t frame[WS_CONTROL_MAX + WS_HEADER_MAX], mask[4] = {1, 2, 3, 4};
	uint16_t code = (uint16_t)atoi(code_s);
	struct ws_message m;
	ssize_t n;

	n = ws_close_encode(frame, sizeof(frame), code, "bye", mask);
	if (n < 0)
		wsc_die("%s", "cannot encode the close");
	wsc_send(c, frame, (size_t)n);
	for (;;) {
		if (!wsc_next(c, &m))
			wsc_die("%s", "connection closed without a close frame");
		if (m.op == WS_OP_CLOSE)
			break;
		if (m.op != WS_OP_TEXT)
			wsc_die("%s", "unexpected frame instead of the close");
	}
	if (m.code != code)
		wsc_die("the close echo has another code than %s", code_s);
	/* then the server closes the TCP connection */
	while (wsc_fill(c)) {
		if (c->len > c->off)
			wsc_die("%s", "data after the close frame");
	}
	printf("close %u\n", m.code);
	return 0;
}

static int wsc_many(const char *host, const char *port, unsigned int n, unsigned int want)
{
	static struct wsc cs[WSC_MAX];
	struct pollfd pfd[WSC_MAX];
	unsigned int done = 0;

	if (n == 0 || n > WSC_MAX)
		wsc_die("%s", "many: 1..512 clients");
	for (unsigned int i = 0; i < n; i++)
		wsc_open(&cs[i], host, port);
	fprintf(stderr, "wsclient: %u clients upgraded\n", n);
	while (done < n) {
		for (unsigned int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){.fd = cs[i].got < want ? cs[i].fd : -1,
						 .events = POLLIN};
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			wsc_die("poll: %s", strerror(errno));
		for (unsigned int i = 0; i < n; i++) {
			struct ws_message m;
			size_t used;
			int ret;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (!wsc_fill(&cs[i]))
				wsc_die("%s", "a client's connection closed");
			while ((ret = ws_decoder_feed(&cs[i].dec, cs[i].buf + cs[i].off,
						      cs[i].len - cs[i].off, &used, &m)) != 0) {
				cs[i].off += used;
				if (ret < 0)
					wsc_die("%s", "bad frame");
				if (m.op == WS_OP_TEXT && cs[i].got < want && ++cs[i].got == want)
					done++;
			}
			cs[i].off += used;
		}
	}
	printf("%u clients got %u messages each\n", n, want);
	for (unsigned int i = 0; i < n; i++) {
		ws_decoder_fini(&cs[i].dec);
		close(cs[i].fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct wsc one;
	struct wsc *c = &one;
	const char *host, *port, *mode;
	int ret = 1;

	if (argc < 4)
		wsc_die("%s",
			"usage: wsclient HOST PORT recv N|ping P|close CODE|many N M|hold|status");
	host = argv[1];
	port = argv[2];
	mode = argv[3];
	alarm(getenv("WSCLIENT_TIMEOUT_S") ? (unsigned int)atoi(getenv("WSCLIENT_TIMEOUT_S"))
					   : WSC_TIMEOUT_S);
	if (strcmp(mode, "many") == 0 && argc == 6)
		return wsc_many(host, port, (unsigned int)atoi(argv[4]),
				(unsigned int)atoi(argv[5]));
	if (strcmp(mode, "status") == 0) {
		c->fd = wsc_connect(host, port);
		wsc_handshake(c, host, port);
		printf("%ld\n", c->status);
		ws_decoder_fini(&c->dec);
		close(c->fd);
		return 0;
	}
	wsc_open(c, host, port);
	if (strcmp(mode, "recv") == 0 && argc == 5)
		ret = wsc_recv(c, strtoul(argv[4], NULL, 10));
	else if (strcmp(mode, "ping") == 0 && argc == 5)
		ret = wsc_ping(c, argv[4]);
	else if (strcmp(mode, "close") == 0 && argc == 5)
		ret = wsc_close(c, argv[4]);
	if (ret == 0) {
		ws_decoder_fini(&c->dec);
		close(c->fd);
		return 0;
	}
	if (strcmp(mode, "hold") == 0) {
		printf("upgraded\n");
		fflush(stdout);
		alarm(0);
		for (;;)
			pause();
	}
	wsc_die("unknown mode %s", mode);
	return 1;
}
