/*
 * The frame codec's helpers for forkpool's own programs: the daemon, the
 * worker loops, the command, the bridge and the tests.  Private: not
 * installed, not exported from libforkpool.so.
 */
#ifndef FORKPOOL_PROTO_INT_H
#define FORKPOOL_PROTO_INT_H

#include <stdint.h>

#include "forkpool/proto.h"

/*
 * Write the 16 bytes of a version 1 header: the one place that fills one
 * field by field, so no sender can forget the version.
 */
void	fp_hdr_put(uint8_t out[FP_HDR_LEN], uint8_t type, uint16_t arg,
	    uint64_t id, uint32_t len);

#endif /* FORKPOOL_PROTO_INT_H */
