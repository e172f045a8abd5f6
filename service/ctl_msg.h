/*
 * Decoding of control requests (include/vdisk/ctl.h) as they arrive from a
 * local client. Pure, so it can be fuzzed: the client is not trusted to send
 * well-formed structs.
 */
#ifndef VDISK_CTL_MSG_H
#define VDISK_CTL_MSG_H

#include <stddef.h>

#include <vdisk/ctl.h>


/* Checks type, size, string terminators and flags, and copies the request
 * into req. 0, or -EINVAL/-EOPNOTSUPP with a reason in err. */
int ctl_request_decode(const void *buf, size_t len, union vdisk_ctl_request *req, char *err,
		       size_t errlen);

#endif
