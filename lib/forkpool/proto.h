/*
 * forkpool wire protocol, version 1: constants and the frame codec.
 *
 * CHANGE ANYTHING IN THIS FILE THAT IS SENT ON THE WIRE AND YOU CHANGE THE
 * PROTOCOL VERSION.  Clients written by other people depend on these values
 * byte for byte; the contract is spec/PROTOCOL.md.
 *
 * The codec is pure: bytes in, frames out.  It never allocates for the
 * header functions; the reader keeps one growing buffer.
 */
#ifndef FORKPOOL_PROTO_H
#define FORKPOOL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#if defined(FP_BUILDING_LIB)
#define FP_API	__attribute__((visibility("default")))
#else
#define FP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define FP_PROTO_VERSION	1
#define FP_HDR_LEN		16
#define FP_POOL_NAME_MAX	64
#define FP_DEFAULT_MAX_PAYLOAD	(16U * 1024 * 1024)

/* Frame types: requests below 0x80, replies above. */
enum fp_type {
	FP_SUBMIT = 0x01,
	FP_PING = 0x02,
	FP_STATUS = 0x03,
	FP_METRICS = 0x04,
	FP_CANCEL = 0x05,
	FP_RESULT = 0x81,
	FP_ERROR = 0x82,
	FP_PONG = 0x83,
	FP_STATUS_REPLY = 0x84,
	FP_METRICS_REPLY = 0x85
};

/* Error codes carried in the arg of an ERROR frame. */
enum fp_err {
	FP_ERR_BAD_REQUEST = 1,
	FP_ERR_PROTOCOL = 2,
	FP_ERR_TOO_LARGE = 3,
	FP_ERR_UNKNOWN_POOL = 4,
	FP_ERR_OVERLOADED = 5,
	FP_ERR_TIMEOUT = 6,
	FP_ERR_WORKER_CRASHED = 7,
	FP_ERR_SHUTTING_DOWN = 8,
	FP_ERR_CANCELLED = 9,
	FP_ERR_QUARANTINED = 10,
	FP_ERR_FORBIDDEN = 11,
	FP_ERR_INTERNAL = 12,
	FP_ERR_UNAVAILABLE = 13
};
#define FP_ERR_MAX	FP_ERR_UNAVAILABLE

/* A frame header, decoded to host order. */
struct fp_hdr {
	uint32_t	len;		/* body bytes after the header */
	uint8_t		version;
	uint8_t		type;
	uint16_t	arg;
	uint64_t	id;
};

/* Write hdr as 16 little-endian bytes. */
FP_API void	fp_hdr_encode(uint8_t out[FP_HDR_LEN], const struct fp_hdr *hdr);

/*
 * Read 16 bytes into hdr.  Returns 0, or an fp_err code: FP_ERR_PROTOCOL
 * when version is not 1 (checked before len is looked at), FP_ERR_TOO_LARGE
 * when len is above max_body.  hdr is filled in either case, so a caller can
 * answer with the frame's id.
 */
FP_API int	fp_hdr_decode(const uint8_t in[FP_HDR_LEN], struct fp_hdr *hdr,
		    uint32_t max_body);

/* 1 when name (not NUL-terminated) is a valid pool name, else 0. */
FP_API int	fp_pool_name_valid(const char *name, size_t len);

/* "WORKER_CRASHED" for FP_ERR_WORKER_CRASHED; "UNKNOWN" when out of range. */
FP_API const char *fp_err_name(int code);

/* The code for a name such as "TIMEOUT", or 0 when there is none. */
FP_API int	fp_err_from_name(const char *name);

/* A sentence for a person: "the worker crashed while running the task". */
FP_API const char *fp_strerror(int code);

/*
 * A streaming decoder: feed it bytes as they arrive, take whole frames out.
 * The body pointer returned by fp_reader_next stays valid until the next
 * call to fp_reader_feed or fp_reader_next.
 */
struct fp_reader {
	uint8_t		*buf;
	size_t		 len;		/* bytes held */
	size_t		 off;		/* start of the first unconsumed byte */
	size_t		 cap;
	uint32_t	 max_body;
	int		 err;		/* sticky fp_err once the stream is bad */
};

FP_API void	fp_reader_init(struct fp_reader *r, uint32_t max_body);
FP_API void	fp_reader_free(struct fp_reader *r);
/* Append bytes.  Returns 0, or -1 when memory ran out. */
FP_API int	fp_reader_feed(struct fp_reader *r, const void *data, size_t len);
/*
 * 1 and a frame when one is whole; 0 when more bytes are needed; -1 when the
 * stream is broken (r->err says why: FP_ERR_PROTOCOL or FP_ERR_TOO_LARGE;
 * hdr still holds what could be read).
 */
FP_API int	fp_reader_next(struct fp_reader *r, struct fp_hdr *hdr,
		    const uint8_t **body);

#ifdef __cplusplus
}
#endif

#endif /* FORKPOOL_PROTO_H */
