// C side of the ucx transport: the UCP calls, the active-message callback
// that queues arrivals in C memory (no Go callback on the hot path), and
// the queries behind `mpx info`.

#ifndef MPX_UCX_H
#define MPX_UCX_H

#include <stddef.h>
#include <stdint.h>
#include <ucp/api/ucp.h>

// Bytes of the active-message header: sequence number (8), message type
// (1), padding (7), then the 48-byte mpx frame header.
#define MPX_AM_HDR 64
// Payloads up to this size are copied into the queue entry by the
// callback, so that nothing needs releasing afterwards.
#define MPX_INLINE 256

// How an arrived message holds its payload.
enum {
	MPX_DATA_INLINE = 0, // in the entry's inl
	MPX_DATA_HELD   = 1, // UCP's buffer, kept (UCS_INPROGRESS) until ucp_am_data_release
	MPX_DATA_MALLOC = 2, // a malloc'd copy
	MPX_DATA_RNDV   = 3, // a rendezvous descriptor for ucp_am_recv_data_nbx
};

typedef struct {
	ucp_ep_h reply_ep;
	void    *data;
	uint64_t len;
	uint32_t how;
	uint32_t hdrlen;
	uint8_t  hdr[MPX_AM_HDR];
	uint8_t  inl[MPX_INLINE];
} mpx_msg;

typedef struct {
	mpx_msg *v;
	size_t   n, cap;
} mpx_queue;

typedef struct {
	int64_t      peer;
	ucs_status_t status;
} mpx_fail;

// Per endpoint: the error callback's argument.
typedef struct mpx_worker mpx_worker;
typedef struct {
	mpx_worker *mw;
	int64_t     peer;
} mpx_epctx;

struct mpx_worker {
	ucp_context_h ctx;
	ucp_worker_h  w;
	mpx_queue     q[2];
	int           active;  // the queue the callback appends to
	int           taken;   // the queue handed to Go by mpx_take, or -1
	mpx_fail     *fails;
	size_t        nfails, capfails;
	int64_t       outstanding; // copied sends not yet completed
	int64_t       outbytes;
	int           oom;     // a callback could not allocate: messages were dropped
};

ucs_status_t mpx_open(mpx_worker *mw, const char *tls, const char *devices);
void mpx_close(mpx_worker *mw);
ucs_status_t mpx_address(mpx_worker *mw, void **addr, size_t *len);
void mpx_address_release(mpx_worker *mw, void *addr);
ucs_status_t mpx_efd(mpx_worker *mw, int *fd);
ucs_status_t mpx_arm(mpx_worker *mw);
unsigned mpx_progress(mpx_worker *mw);
size_t mpx_take(mpx_worker *mw, mpx_msg **msgs);
size_t mpx_take_fails(mpx_worker *mw, mpx_fail *out, size_t cap);

ucs_status_t mpx_ep_create(mpx_worker *mw, const void *addr, int local, mpx_epctx *ectx, ucp_ep_h *ep);
ucs_status_ptr_t mpx_ep_close(ucp_ep_h ep, int force);
ucs_status_ptr_t mpx_ep_flush(ucp_ep_h ep);
ucs_status_ptr_t mpx_worker_flush(mpx_worker *mw);

ucs_status_t mpx_send_small(mpx_worker *mw, ucp_ep_h ep, const void *hdr, const void *data, size_t len);
ucs_status_ptr_t mpx_send_big(ucp_ep_h ep, const void *hdr, const void *data, size_t len);
ucs_status_ptr_t mpx_recv_rndv(mpx_worker *mw, void *desc, void *buf, size_t len);
void mpx_release(mpx_worker *mw, void *data);

ucs_status_t mpx_req_status(void *req);
void mpx_req_free(void *req);

ucs_status_t mpx_mem_map(mpx_worker *mw, void *addr, size_t len, ucp_mem_h *memh, void **rkey, size_t *rkeylen);
void mpx_mem_unmap(mpx_worker *mw, ucp_mem_h memh);
void mpx_rkey_buffer_release(void *rkey);
ucs_status_t mpx_rkey_unpack(ucp_ep_h ep, const void *buf, ucp_rkey_h *rkey);
ucs_status_ptr_t mpx_get(ucp_ep_h ep, void *dst, size_t len, uint64_t raddr, ucp_rkey_h rkey);
ucs_status_ptr_t mpx_put(ucp_ep_h ep, const void *src, size_t len, uint64_t raddr, ucp_rkey_h rkey);
ucs_status_ptr_t mpx_atomic(ucp_ep_h ep, int op, uint64_t value, uint64_t *result, uint64_t raddr, ucp_rkey_h rkey);

char *mpx_ep_info(ucp_ep_h ep);
char *mpx_resources(void);
const char *mpx_status_string(ucs_status_t st);

#endif
