#include "ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qbipcc.h>

#include <vdisk/ctl.h>

#include "vdiskctl.h"

/* One complete JSON text and nothing after it; NULL for "null". */
static int json_parse(const char *text, struct json_object **out)
{
	struct json_tokener *tok;
	size_t len = strlen(text);
	int ret = 0;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	*out = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(*out);
		*out = NULL;
		ret = -EBADMSG;
	}
	json_tokener_free(tok);
	return ret;
}

/* Checks the reply header and parses the JSON after it. An error reply
 * yields its reason on stderr and the daemon's -errno. */
static int reply_parse(int32_t id, char *buf, size_t len, struct json_object **replyp)
{
	const struct qb_ipc_response_header *hdr = (const void *)buf;
	const char *json = buf + sizeof(*hdr), *reason;
	struct json_object *reply, *val;
	int ret;

	if (len <= sizeof(*hdr) || !memchr(json, '\0', len - sizeof(*hdr)) || hdr->id != id) {
		complain("malformed reply from vdiskd");
		return -EBADMSG;
	}
	ret = json_parse(json, &reply);
	if (ret == -ENOMEM) {
		complain("out of memory");
		return ret;
	}

	if (hdr->error) {
		/* an error must come out as one, whatever the daemon sent */
		ret = hdr->error < 0 && hdr->error > INT32_MIN ? hdr->error : -EPROTO;
		if (json_object_object_get_ex(reply, "error", &val) &&
		    json_object_is_type(val, json_type_string))
			reason = json_object_get_string(val);
		else
			reason = strerror(-ret);
		complain("%s", reason);
		json_object_put(reply);
		return ret;
	}
	if (ret) {
		complain("malformed reply from vdiskd: invalid JSON");
		return ret;
	}
	if (!json_object_is_type(reply, json_type_object)) {
		complain("malformed reply from vdiskd: not a JSON object");
		json_object_put(reply);
		return -EBADMSG;
	}
	*replyp = reply;
	return 0;
}

#define RECV_SLICE_MS 250

int ctl_call(const char *ipc_name, const struct qb_ipc_request_header *req, int timeout_ms,
	     struct json_object **replyp)
{
	qb_ipcc_connection_t *conn;
	char *buf;
	ssize_t n;
	int ret, waited;

	conn = qb_ipcc_connect(ipc_name, VDISK_CTL_MAX_MSG);
	if (!conn) {
		ret = errno ? -errno : -ECONNREFUSED;
		complain("cannot connect to vdiskd (IPC service '%s'): %s%s", ipc_name,
			 strerror(-ret),
			 ret == -ECONNREFUSED || ret == -ENOENT ? " — is vdiskd running?" : "");
		return ret;
	}
	buf = malloc(VDISK_CTL_MAX_MSG);
	if (!buf) {
		ret = -ENOMEM;
		complain("out of memory");
		goto out_disconnect;
	}
	n = qb_ipcc_send(conn, req, (size_t)req->size);
	if (n < 0) {
		ret = (int)n;
		complain("cannot send the request to vdiskd: %s", strerror(-ret));
		goto out_free_buf;
	}
	/* In slices: libqb notices a daemon that died only when a receive
	 * times out, and a reply may take a whole reconfiguration cycle. */
	for (waited = 0;; waited += RECV_SLICE_MS) {
		n = qb_ipcc_recv(conn, buf, VDISK_CTL_MAX_MSG, RECV_SLICE_MS);
		if ((n != -ETIMEDOUT && n != -EAGAIN) || waited + RECV_SLICE_MS >= timeout_ms)
			break;
		if (!qb_ipcc_is_connected(conn)) {
			n = -ENOTCONN;
			break;
		}
	}
	if (n < 0) {
		ret = (int)n;
		if (ret == -ETIMEDOUT || ret == -EAGAIN)
			complain("no reply from vdiskd within %d s", timeout_ms / 1000);
		else if (ret == -ENOTCONN)
			complain("vdiskd closed the connection without replying");
		else
			complain("cannot receive the reply of vdiskd: %s", strerror(-ret));
		goto out_free_buf;
	}
	ret = reply_parse(req->id, buf, (size_t)n, replyp);
out_free_buf:
	free(buf);
out_disconnect:
	qb_ipcc_disconnect(conn);
	return ret;
}
