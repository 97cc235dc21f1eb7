/* fuzz_wire.c - libFuzzer target for the collector's ingest boundary: wire_decode_batch()
 * (and wire_decode_ack()) on arbitrary bytes. Besides "no crash, no leak" (ASan, UBSan),
 * it checks the codec's contract: whatever the decoder accepts, the encoder re-encodes,
 * and that encoding decodes to exactly the same struct.
 *
 * Built twice by tests/fuzz/fuzz.cmake: as fuzz_wire with -fsanitize=fuzzer (clang,
 * AYAFLOW_FUZZ=ON), and with fuzz_main.c as fuzz_wire_corpus, which CTest runs over the
 * seed corpus tests/fuzz/corpus/wire in every build. */
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_wire: %s\n", what);
	abort();
}

/* Equal including records and DNS records; both came from wire_decode_batch, which
 * zeroes padding. */
static int fuzz_same_batch(const struct wire_batch *x, const struct wire_batch *y)
{
	struct wire_batch a = *x, b = *y;

	if (a.nrecords != b.nrecords || a.ndns != b.ndns)
		return 0;
	if (a.nrecords > 0 && memcmp(a.records, b.records, a.nrecords * sizeof(a.records[0])) != 0)
		return 0;
	if (a.ndns > 0 && memcmp(a.dns, b.dns, a.ndns * sizeof(a.dns[0])) != 0)
		return 0;
	a.records = NULL;
	b.records = NULL;
	a.dns = NULL;
	b.dns = NULL;
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void fuzz_batch(const uint8_t *data, size_t size)
{
	struct wire_batch b, again;
	enum wire_reject reason = WIRE_REJECT_NONE;
	char err[256] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	ret = wire_decode_batch(data, size, &b, &reason, err, sizeof(err));
	if (ret != 0) {
		if (ret != -EINVAL && ret != -ENOMEM)
			fuzz_fail("decode returned an unexpected error");
		if (reason == WIRE_REJECT_NONE || err[0] == '\0')
			fuzz_fail("rejection without a reason or a message");
		return;
	}
	ret = wire_encode_batch(&b, &buf, &len);
	if (ret != 0)
		fuzz_fail("an accepted batch does not re-encode");
	ret = wire_decode_batch(buf, len, &again, &reason, err, sizeof(err));
	free(buf);
	if (ret != 0)
		fuzz_fail("a re-encoded batch is rejected");
	if (!fuzz_same_batch(&b, &again))
		fuzz_fail("a re-encoded batch decodes differently");
	wire_batch_fini(&again);
	wire_batch_fini(&b);
}

static void fuzz_ack(const uint8_t *data, size_t size)
{
	struct wire_ack a, again;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (wire_decode_ack(data, size, &a) != 0)
		return;
	if (wire_encode_ack(&a, &buf, &len) != 0)
		fuzz_fail("an accepted ack does not re-encode");
	if (wire_decode_ack(buf, len, &again) != 0)
		fuzz_fail("a re-encoded ack is rejected");
	free(buf);
	if (a.seq != again.seq || a.ok != again.ok || a.duplicate != again.duplicate ||
	    a.reason != again.reason || strcmp(a.message, again.message) != 0)
		fuzz_fail("a re-encoded ack decodes differently");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_batch(data, size);
	fuzz_ack(data, size);
	return 0;
}
