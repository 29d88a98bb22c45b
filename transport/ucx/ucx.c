//go:build ucx

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uct/api/uct.h>
#include "ucx.h"

// The active-message callback: runs inside ucp_worker_progress, which the
// Go side calls with its worker mutex held, so no lock is needed here. It
// queues the arrival; Go reads the queue after progress returns.
static ucs_status_t am_cb(void *arg, const void *header, size_t header_length,
			  void *data, size_t length, const ucp_am_recv_param_t *param)
{
	mpx_worker *mw = arg;
	mpx_queue *q = &mw->q[mw->active];
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 64;
		mpx_msg *v = realloc(q->v, cap * sizeof(*v));
		if (v == NULL) {
			mw->oom = 1;
			return UCS_OK;
		}
		q->v = v;
		q->cap = cap;
	}
	mpx_msg *m = &q->v[q->n];
	m->reply_ep = (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? param->reply_ep : NULL;
	m->len = length;
	m->hdrlen = header_length > MPX_AM_HDR ? MPX_AM_HDR : (uint32_t)header_length;
	memcpy(m->hdr, header, m->hdrlen);
	m->data = NULL;
	ucs_status_t ret = UCS_OK;
	if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
		m->how = MPX_DATA_RNDV;
		m->data = data;
		ret = UCS_INPROGRESS;
	} else if (length <= MPX_INLINE) {
		m->how = MPX_DATA_INLINE;
		if (length > 0)
			memcpy(m->inl, data, length);
	} else if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_DATA) {
		m->how = MPX_DATA_HELD;
		m->data = data;
		ret = UCS_INPROGRESS;
	} else {
		m->how = MPX_DATA_MALLOC;
		m->data = malloc(length);
		if (m->data == NULL) {
			mw->oom = 1;
			return UCS_OK;
		}
		memcpy(m->data, data, length);
	}
	q->n++;
	return ret;
}

static void err_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
	mpx_epctx *ectx = arg;
	mpx_worker *mw = ectx->mw;
	(void)ep;
	if (mw->nfails == mw->capfails) {
		size_t cap = mw->capfails ? 2 * mw->capfails : 8;
		mpx_fail *v = realloc(mw->fails, cap * sizeof(*v));
		if (v == NULL) {
			mw->oom = 1;
			return;
		}
		mw->fails = v;
		mw->capfails = cap;
	}
	mw->fails[mw->nfails].peer = ectx->peer;
	mw->fails[mw->nfails].status = status;
	mw->nfails++;
}

ucs_status_t mpx_open(mpx_worker *mw, const char *tls, const char *devices)
{
	ucp_config_t *cfg;
	ucs_status_t st = ucp_config_read(NULL, NULL, &cfg);
	if (st != UCS_OK)
		return st;
	if (tls != NULL && tls[0] != '\0' && (st = ucp_config_modify(cfg, "TLS", tls)) != UCS_OK)
		goto out_cfg;
	if (devices != NULL && devices[0] != '\0' && (st = ucp_config_modify(cfg, "NET_DEVICES", devices)) != UCS_OK)
		goto out_cfg;
	ucp_params_t p = {
		.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED,
		.features = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_AMO64 | UCP_FEATURE_WAKEUP,
		.mt_workers_shared = 0,
	};
	st = ucp_init(&p, cfg, &mw->ctx);
	if (st != UCS_OK)
		goto out_cfg;
	ucp_worker_params_t wp = {
		.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE | UCP_WORKER_PARAM_FIELD_EVENTS,
		// The Go side holds a mutex around every call on the worker.
		.thread_mode = UCS_THREAD_MODE_SERIALIZED,
		.events = UCP_WAKEUP_RMA | UCP_WAKEUP_AMO | UCP_WAKEUP_TAG_SEND | UCP_WAKEUP_TAG_RECV | UCP_WAKEUP_TX | UCP_WAKEUP_RX,
	};
	st = ucp_worker_create(mw->ctx, &wp, &mw->w);
	if (st != UCS_OK)
		goto out_ctx;
	ucp_am_handler_param_t hp = {
		.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
			      UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS,
		.id = 0,
		.flags = UCP_AM_FLAG_WHOLE_MSG,
		.cb = am_cb,
		.arg = mw,
	};
	st = ucp_worker_set_am_recv_handler(mw->w, &hp);
	if (st != UCS_OK)
		goto out_worker;
	mw->taken = -1;
	ucp_config_release(cfg);
	return UCS_OK;
out_worker:
	ucp_worker_destroy(mw->w);
out_ctx:
	ucp_cleanup(mw->ctx);
out_cfg:
	ucp_config_release(cfg);
	return st;
}

// release frees what the entries of a queue still hold.
static void release_queue(mpx_worker *mw, mpx_queue *q)
{
	for (size_t i = 0; i < q->n; i++) {
		mpx_msg *m = &q->v[i];
		if (m->data == NULL)
			continue;
		if (m->how == MPX_DATA_MALLOC)
			free(m->data);
		else if (m->how == MPX_DATA_HELD || m->how == MPX_DATA_RNDV)
			ucp_am_data_release(mw->w, m->data);
		m->data = NULL;
	}
	q->n = 0;
}

void mpx_close(mpx_worker *mw)
{
	for (int i = 0; i < 2; i++) {
		release_queue(mw, &mw->q[i]);
		free(mw->q[i].v);
		mw->q[i].v = NULL;
	}
	free(mw->fails);
	mw->fails = NULL;
	ucp_worker_destroy(mw->w);
	ucp_cleanup(mw->ctx);
}

ucs_status_t mpx_address(mpx_worker *mw, void **addr, size_t *len)
{
	return ucp_worker_get_address(mw->w, (ucp_address_t **)addr, len);
}

void mpx_address_release(mpx_worker *mw, void *addr)
{
	ucp_worker_release_address(mw->w, addr);
}

ucs_status_t mpx_efd(mpx_worker *mw, int *fd) { return ucp_worker_get_efd(mw->w, fd); }

// mpx_arm arms the event fd unless arrivals wait in the queue already.
ucs_status_t mpx_arm(mpx_worker *mw)
{
	if (mw->q[mw->active].n > 0 || mw->nfails > 0)
		return UCS_ERR_BUSY;
	while (ucp_worker_progress(mw->w) != 0)
		;
	if (mw->q[mw->active].n > 0 || mw->nfails > 0)
		return UCS_ERR_BUSY;
	return ucp_worker_arm(mw->w);
}

// mpx_progress drives the worker until it has nothing more to do (at most
// a few rounds, so a stream of arrivals cannot keep the caller here).
unsigned mpx_progress(mpx_worker *mw)
{
	unsigned total = 0;
	for (int i = 0; i < 4; i++) {
		unsigned n = ucp_worker_progress(mw->w);
		total += n;
		if (n == 0)
			break;
	}
	return total;
}

// mpx_take releases the queue handed out last time, progresses, and hands
// out the arrivals: the callback appends to the other queue from now on.
size_t mpx_take(mpx_worker *mw, mpx_msg **msgs)
{
	if (mw->taken >= 0) {
		release_queue(mw, &mw->q[mw->taken]);
		mw->taken = -1;
	}
	mpx_progress(mw);
	mpx_queue *q = &mw->q[mw->active];
	if (q->n == 0)
		return 0;
	mw->taken = mw->active;
	mw->active ^= 1;
	*msgs = q->v;
	return q->n;
}

size_t mpx_take_fails(mpx_worker *mw, mpx_fail *out, size_t cap)
{
	size_t n = mw->nfails < cap ? mw->nfails : cap;
	memcpy(out, mw->fails, n * sizeof(*out));
	memmove(mw->fails, mw->fails + n, (mw->nfails - n) * sizeof(*out));
	mw->nfails -= n;
	return n;
}

// mpx_ep_create connects to a worker address. Peers on this host get no
// failure handler: UCX's shared-memory transports cannot report a failed
// peer, and asking for it would leave them out in favour of tcp. A peer
// that closes says bye all the same; one that dies is the launcher's to
// report.
ucs_status_t mpx_ep_create(mpx_worker *mw, const void *addr, int local, mpx_epctx *ectx, ucp_ep_h *ep)
{
	ucp_ep_params_t p = {
		.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
			      UCP_EP_PARAM_FIELD_ERR_HANDLER,
		.address = addr,
		.err_mode = local ? UCP_ERR_HANDLING_MODE_NONE : UCP_ERR_HANDLING_MODE_PEER,
		.err_handler = {.cb = err_cb, .arg = ectx},
	};
	ectx->mw = mw;
	if (local)
		p.field_mask &= ~(uint64_t)UCP_EP_PARAM_FIELD_ERR_HANDLER;
	return ucp_ep_create(mw->w, &p, ep);
}

ucs_status_ptr_t mpx_ep_close(ucp_ep_h ep, int force)
{
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
		.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0,
	};
	return ucp_ep_close_nbx(ep, &p);
}

ucs_status_ptr_t mpx_ep_flush(ucp_ep_h ep)
{
	ucp_request_param_t p = {.op_attr_mask = 0};
	return ucp_ep_flush_nbx(ep, &p);
}

ucs_status_ptr_t mpx_worker_flush(mpx_worker *mw)
{
	ucp_request_param_t p = {.op_attr_mask = 0};
	return ucp_worker_flush_nbx(mw->w, &p);
}

typedef struct {
	mpx_worker *mw;
	size_t      len;
	uint8_t     hdr[MPX_AM_HDR];
	uint8_t     data[];
} copy_block;

static void copy_done(void *req, ucs_status_t st, void *user)
{
	copy_block *b = user;
	(void)st;
	b->mw->outstanding--;
	b->mw->outbytes -= (int64_t)b->len;
	free(b);
	ucp_request_free(req);
}

// mpx_send_small sends a frame whose buffers the caller keeps only for the
// call: first asking UCP to complete at once from them, and if it cannot,
// from a copy that the completion callback frees.
ucs_status_t mpx_send_small(mpx_worker *mw, ucp_ep_h ep, const void *hdr, const void *data, size_t len)
{
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FLAG_FORCE_IMM_CMPL,
		.flags = UCP_AM_SEND_FLAG_REPLY,
	};
	ucs_status_ptr_t r = ucp_am_send_nbx(ep, 0, hdr, MPX_AM_HDR, data, len, &p);
	if (r == NULL)
		return UCS_OK;
	if (UCS_PTR_IS_PTR(r)) {
		// Not expected with FORCE_IMM_CMPL; wait for it here rather than
		// leave UCP holding the caller's buffers.
		while (ucp_request_check_status(r) == UCS_INPROGRESS)
			ucp_worker_progress(mw->w);
		ucs_status_t st = ucp_request_check_status(r);
		ucp_request_free(r);
		return st;
	}
	if (UCS_PTR_STATUS(r) != UCS_ERR_NO_RESOURCE)
		return UCS_PTR_STATUS(r);
	copy_block *b = malloc(sizeof(*b) + len);
	if (b == NULL)
		return UCS_ERR_NO_MEMORY;
	b->mw = mw;
	b->len = len;
	memcpy(b->hdr, hdr, MPX_AM_HDR);
	if (len > 0)
		memcpy(b->data, data, len);
	ucp_request_param_t q = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
		.flags = UCP_AM_SEND_FLAG_REPLY,
		.cb.send = copy_done,
		.user_data = b,
	};
	r = ucp_am_send_nbx(ep, 0, b->hdr, MPX_AM_HDR, b->data, len, &q);
	if (r == NULL) {
		free(b);
		return UCS_OK;
	}
	if (UCS_PTR_IS_ERR(r)) {
		free(b);
		return UCS_PTR_STATUS(r);
	}
	mw->outstanding++;
	mw->outbytes += (int64_t)len;
	return UCS_OK;
}

// mpx_send_big sends from buffers that stay valid (C header, pinned Go
// payload) until the returned request completes; Go polls it.
ucs_status_ptr_t mpx_send_big(ucp_ep_h ep, const void *hdr, const void *data, size_t len)
{
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
		.flags = UCP_AM_SEND_FLAG_REPLY,
	};
	return ucp_am_send_nbx(ep, 0, hdr, MPX_AM_HDR, data, len, &p);
}

ucs_status_ptr_t mpx_recv_rndv(mpx_worker *mw, void *desc, void *buf, size_t len)
{
	ucp_request_param_t p = {.op_attr_mask = 0};
	return ucp_am_recv_data_nbx(mw->w, desc, buf, len, &p);
}

void mpx_release(mpx_worker *mw, void *data) { ucp_am_data_release(mw->w, data); }

ucs_status_t mpx_req_status(void *req) { return ucp_request_check_status(req); }
void mpx_req_free(void *req) { ucp_request_free(req); }

ucs_status_t mpx_mem_map(mpx_worker *mw, void *addr, size_t len, ucp_mem_h *memh, void **rkey, size_t *rkeylen)
{
	ucp_mem_map_params_t p = {
		.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
		.address = addr,
		.length = len,
	};
	ucs_status_t st = ucp_mem_map(mw->ctx, &p, memh);
	if (st != UCS_OK)
		return st;
	st = ucp_rkey_pack(mw->ctx, *memh, rkey, rkeylen);
	if (st != UCS_OK)
		ucp_mem_unmap(mw->ctx, *memh);
	return st;
}

void mpx_mem_unmap(mpx_worker *mw, ucp_mem_h memh) { ucp_mem_unmap(mw->ctx, memh); }
void mpx_rkey_buffer_release(void *rkey) { ucp_rkey_buffer_release(rkey); }

ucs_status_t mpx_rkey_unpack(ucp_ep_h ep, const void *buf, ucp_rkey_h *rkey)
{
	return ucp_ep_rkey_unpack(ep, buf, rkey);
}

ucs_status_ptr_t mpx_get(ucp_ep_h ep, void *dst, size_t len, uint64_t raddr, ucp_rkey_h rkey)
{
	ucp_request_param_t p = {.op_attr_mask = 0};
	return ucp_get_nbx(ep, dst, len, raddr, rkey, &p);
}

ucs_status_ptr_t mpx_put(ucp_ep_h ep, const void *src, size_t len, uint64_t raddr, ucp_rkey_h rkey)
{
	ucp_request_param_t p = {.op_attr_mask = 0};
	return ucp_put_nbx(ep, src, len, raddr, rkey, &p);
}

// mpx_atomic runs a 64-bit atomic at raddr: op 0 fetch-and-add, 1 compare
// and swap (value is the expected word, *result the new one on entry). The old value lands
// in *result, which must stay valid until the request completes.
ucs_status_ptr_t mpx_atomic(ucp_ep_h ep, int op, uint64_t value, uint64_t *result, uint64_t raddr, ucp_rkey_h rkey)
{
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_DATATYPE | UCP_OP_ATTR_FIELD_REPLY_BUFFER,
		.datatype = ucp_dt_make_contig(8),
		.reply_buffer = result,
	};
	return ucp_atomic_op_nbx(ep, op == 0 ? UCP_ATOMIC_OP_ADD : UCP_ATOMIC_OP_CSWAP, &value, 1, raddr, rkey, &p);
}

// print_to captures what a UCP print function writes; free the result.
static char *capture(void (*fn)(void *, FILE *), void *arg)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (f == NULL)
		return NULL;
	fn(arg, f);
	fclose(f);
	return buf;
}

static void print_ep(void *ep, FILE *f) { ucp_ep_print_info(ep, f); }

char *mpx_ep_info(ucp_ep_h ep) { return capture(print_ep, ep); }

// list_resources writes "transport/device" per line for every transport
// UCT offers here, as `ucx_info -d` lists them.
static void list_resources(void *arg, FILE *f)
{
	uct_component_h *comps;
	unsigned ncomps;
	(void)arg;
	if (uct_query_components(&comps, &ncomps) != UCS_OK)
		return;
	for (unsigned c = 0; c < ncomps; c++) {
		uct_component_attr_t ca = {.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT};
		if (uct_component_query(comps[c], &ca) != UCS_OK)
			continue;
		uct_md_resource_desc_t mds[ca.md_resource_count + 1];
		ca.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
		ca.md_resources = mds;
		if (uct_component_query(comps[c], &ca) != UCS_OK)
			continue;
		for (unsigned m = 0; m < ca.md_resource_count; m++) {
			uct_md_config_t *mc;
			uct_md_h md;
			if (uct_md_config_read(comps[c], NULL, NULL, &mc) != UCS_OK)
				continue;
			ucs_status_t st = uct_md_open(comps[c], mds[m].md_name, mc, &md);
			uct_config_release(mc);
			if (st != UCS_OK)
				continue;
			uct_tl_resource_desc_t *tls;
			unsigned ntls;
			if (uct_md_query_tl_resources(md, &tls, &ntls) == UCS_OK) {
				for (unsigned t = 0; t < ntls; t++)
					fprintf(f, "%s/%s\n", tls[t].tl_name, tls[t].dev_name);
				uct_release_tl_resource_list(tls);
			}
			uct_md_close(md);
		}
	}
	uct_release_component_list(comps);
}

char *mpx_resources(void) { return capture(list_resources, NULL); }

const char *mpx_status_string(ucs_status_t st) { return ucs_status_string(st); }
