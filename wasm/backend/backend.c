/*
 * libusb's OS backend for WebAssembly. Every operation is forwarded to the
 * transport host (ts/host/) through the shared-memory channel; the host
 * carries it out on a transport (sim, webusb, node).
 *
 * Device discovery is hotplug-driven: the host sends the device list when a
 * context attaches and arrival/departure events afterwards, so the backend
 * leaves get_device_list NULL and libusb reports LIBUSB_CAP_HAS_HOTPLUG.
 *
 * Descriptors are raw bytes read from the device by the host (GET_DESCRIPTOR)
 * and cached here per device, as libusb expects of a backend.
 */
#include <string.h>
#include <emscripten/threading.h>

#include "backend.h"
#include "host_channel.h"

struct lw_device_priv {
	uint32_t id;
	uint8_t num_configs;
	uint8_t *configs[USB_MAXCONFIG];
	uint16_t config_len[USB_MAXCONFIG];
	uint8_t *bos;
	uint16_t bos_len;
};

struct lw_handle_priv {
	struct lw_handle_shared shared; /* written by the host */
	uint32_t id;
	uint32_t auto_detached;         /* interfaces whose kernel driver we detached on claim */
};

struct lw_transfer_priv {
	struct lw_req req;
	struct usbi_transfer *itransfer;
	/* 1 from the post until libusb has the completion: only a posted
	 * transfer can be ended by lw_fail_transfers() */
	_Atomic uint32_t posted;
};

_Static_assert(sizeof(struct lw_iso_packet) == sizeof(struct libusb_iso_packet_descriptor), "lw_iso_packet");
_Static_assert(offsetof(struct lw_iso_packet, actual_length) == offsetof(struct libusb_iso_packet_descriptor, actual_length), "lw_iso_packet.actual_length");
_Static_assert(offsetof(struct lw_iso_packet, status) == offsetof(struct libusb_iso_packet_descriptor, status), "lw_iso_packet.status");

usbi_mutex_static_t lw_contexts_lock = USBI_MUTEX_INITIALIZER;
struct list_head lw_contexts = { &lw_contexts, &lw_contexts };
static _Atomic uint32_t lw_next_seq = 1;

struct lw_ctx_priv *lw_ctx_priv(struct libusb_context *ctx)
{
	return usbi_get_context_priv(ctx);
}

static struct lw_device_priv *dev_priv(struct libusb_device *dev)
{
	return usbi_get_device_priv(dev);
}

static struct lw_handle_priv *handle_priv(struct libusb_device_handle *handle)
{
	return usbi_get_device_handle_priv(handle);
}

static void req_init(struct lw_req *req, uint32_t op)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
}

/* A synchronous request on an open handle. */
static int handle_call(struct libusb_device_handle *handle, uint32_t op,
	uint32_t arg0, uint32_t arg1, uint32_t *actual)
{
	struct lw_handle_priv *hp = handle_priv(handle);
	struct lw_req req;
	int r;

	if (atomic_load(&hp->shared.gone))
		return LIBUSB_ERROR_NO_DEVICE;
	req_init(&req, op);
	req.dev = dev_priv(handle->dev)->id;
	req.handle = hp->id;
	req.arg0 = arg0;
	req.arg1 = arg1;
	r = lw_call(&req);
	if (actual)
		*actual = req.actual;
	return r;
}

/* ---- device records ---------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t left;
	int bad;
};

static const uint8_t *take(struct reader *rd, size_t n)
{
	const uint8_t *p = rd->p;

	if (rd->bad || n > rd->left) {
		rd->bad = 1;
		return NULL;
	}
	rd->p += n;
	rd->left -= n;
	return p;
}

static uint32_t take_u32(struct reader *rd)
{
	const uint8_t *p = take(rd, 4);

	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static uint16_t take_u16(struct reader *rd)
{
	const uint8_t *p = take(rd, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint8_t *dup_bytes(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (p && n)
		memcpy(p, src, n);
	return p;
}

static void free_device_priv(struct lw_device_priv *dp)
{
	for (int i = 0; i < USB_MAXCONFIG; i++) {
		free(dp->configs[i]);
		dp->configs[i] = NULL;
	}
	free(dp->bos);
	dp->bos = NULL;
}

/* Find the hub a device hangs off, so libusb_get_port_numbers() and
 * libusb_get_parent() see the whole path. Hubs come before their children
 * in the host's records. */
static struct libusb_device *find_parent(struct libusb_context *ctx, uint8_t bus,
	const uint8_t *ports, uint8_t num_ports)
{
	struct libusb_device *dev, *found = NULL;
	uint8_t path[LW_MAX_PORTS];

	if (num_ports == 0)
		return NULL;
	usbi_mutex_lock(&ctx->usb_devs_lock);
	for_each_device(ctx, dev) {
		int n;

		if (dev->bus_number != bus)
			continue;
		n = libusb_get_port_numbers(dev, path, sizeof(path));
		if (n < 0)
			continue;
		/* the parent's path is ours minus the last port (the root hub
		 * of the bus has an empty path) */
		if (n == num_ports - 1 && memcmp(path, ports, (size_t)n) == 0) {
			if (n == 0 && dev->port_number != 0)
				continue;
			found = libusb_ref_device(dev);
			break;
		}
	}
	usbi_mutex_unlock(&ctx->usb_devs_lock);
	return found;
}

/* Build a libusb_device from one host record and connect it to the context.
 * A malformed record is reported and skipped; it never takes others down. */
static void connect_device_record(struct libusb_context *ctx, struct reader *rd)
{
	struct reader rec;
	struct libusb_device *dev;
	struct lw_device_priv *dp;
	struct lw_devrec_header head;
	uint32_t id;
	uint8_t bus, address, speed, num_ports, ports[LW_MAX_PORTS];
	const uint8_t *p;
	uint16_t n;

	p = take(rd, sizeof(head));
	if (p)
		memcpy(&head, p, sizeof(head));
	if (!p || head.record_len < sizeof(head) || !take(rd, head.record_len - sizeof(head))) {
		usbi_err(ctx, "libusb-wasm: truncated device record from the host");
		rd->bad = 1;
		return;
	}
	rec.p = rd->p - (head.record_len - sizeof(head));
	rec.left = head.record_len - sizeof(head);
	rec.bad = 0;

	id = head.device_id;
	bus = head.bus_number;
	address = head.device_address;
	speed = head.speed;
	num_ports = head.num_ports;
	if (!id || num_ports > LW_MAX_PORTS) {
		usbi_err(ctx, "libusb-wasm: malformed device record header");
		return;
	}
	memcpy(ports, head.ports, LW_MAX_PORTS);

	dev = usbi_get_device_by_session_id(ctx, id);
	if (dev) {
		/* already known (the list and an arrival event overlapped) */
		libusb_unref_device(dev);
		return;
	}

	dev = usbi_alloc_device(ctx, id);
	if (!dev)
		return;
	dp = dev_priv(dev);
	dp->id = id;
	dev->bus_number = bus;
	dev->device_address = address;
	dev->speed = (enum libusb_speed)speed;
	dev->port_number = num_ports ? ports[num_ports - 1] : 0;

	dp->num_configs = head.num_configs;
	n = take_u16(&rec);
	p = take(&rec, n);
	if (rec.bad || n != LIBUSB_DT_DEVICE_SIZE) {
		usbi_err(ctx, "libusb-wasm: device %u: device descriptor is %u bytes, expected %d",
			id, n, LIBUSB_DT_DEVICE_SIZE);
		goto fail;
	}
	memcpy(&dev->device_descriptor, p, LIBUSB_DT_DEVICE_SIZE);
	usbi_localize_device_descriptor(&dev->device_descriptor);

	if (dp->num_configs > USB_MAXCONFIG) {
		usbi_err(ctx, "libusb-wasm: device %u: too many configurations", id);
		goto fail;
	}
	for (int i = 0; i < dp->num_configs; i++) {
		n = take_u16(&rec);
		p = take(&rec, n);
		if (rec.bad || n < LIBUSB_DT_CONFIG_SIZE) {
			usbi_err(ctx, "libusb-wasm: device %u: configuration %d is malformed (%u bytes)", id, i, n);
			goto fail;
		}
		dp->configs[i] = dup_bytes(p, n);
		dp->config_len[i] = n;
		if (!dp->configs[i])
			goto fail;
	}
	n = take_u16(&rec);
	p = take(&rec, n);
	if (rec.bad) {
		usbi_err(ctx, "libusb-wasm: device %u: truncated BOS descriptor", id);
		goto fail;
	}
	if (n) {
		dp->bos = dup_bytes(p, n);
		dp->bos_len = n;
	}

	if (usbi_sanitize_device(dev) < 0)
		goto fail;
	dev->parent_dev = find_parent(ctx, bus, ports, num_ports);
	usbi_connect_device(dev);
	return;

fail:
	libusb_unref_device(dev);
}

static void disconnect_device(struct libusb_context *ctx, uint32_t id)
{
	struct libusb_device *dev = usbi_get_device_by_session_id(ctx, id);

	if (!dev)
		return;
	usbi_disconnect_device(dev);
	libusb_unref_device(dev);
}

/* Run a request whose answer is variable-sized, growing the buffer when the
 * host says it needs more. The caller frees *out. */
static int call_with_buffer(struct lw_req *req, uint8_t **out, uint32_t *out_len)
{
	uint32_t size = 4096;

	for (;;) {
		uint8_t *buf = malloc(size);
		int r;

		if (!buf)
			return LIBUSB_ERROR_NO_MEM;
		req->buf = (uint32_t)(uintptr_t)buf;
		req->len = size;
		r = lw_call(req);
		if (r == LIBUSB_ERROR_OVERFLOW && req->actual > size) {
			free(buf);
			size = req->actual;
			continue;
		}
		if (r < 0) {
			free(buf);
			return r;
		}
		*out = buf;
		*out_len = req->actual;
		return 0;
	}
}

void lw_apply_hotplug(struct libusb_context *ctx)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);

	if (!cp->attached || !atomic_load(&cp->shared.hotplug_pending) || lw_host_gone())
		return;

	usbi_mutex_lock(&cp->hotplug_lock);
	while (atomic_load(&cp->shared.hotplug_pending)) {
		struct lw_req req;
		struct reader rd;
		struct lw_hotplug_header event;
		const uint8_t *p;
		uint8_t *buf;
		uint32_t len, kind, id;
		int r;

		req_init(&req, LW_OP_NEXT_HOTPLUG);
		req.arg0 = (uint32_t)(uintptr_t)&cp->shared;
		r = call_with_buffer(&req, &buf, &len);
		if (r == LIBUSB_ERROR_NOT_FOUND)
			break;
		if (r < 0) {
			usbi_err(ctx, "libusb-wasm: reading a hotplug event failed: %s", libusb_error_name(r));
			break;
		}
		rd.p = buf;
		rd.left = len;
		rd.bad = 0;
		p = take(&rd, sizeof(event));
		if (!p) {
			usbi_err(ctx, "libusb-wasm: truncated hotplug event from the host");
			free(buf);
			break;
		}
		memcpy(&event, p, sizeof(event));
		kind = event.kind;
		id = event.device_id;
		if (kind == LW_HOTPLUG_ARRIVED)
			connect_device_record(ctx, &rd);
		else if (kind == LW_HOTPLUG_LEFT)
			disconnect_device(ctx, id);
		else
			usbi_err(ctx, "libusb-wasm: unknown hotplug event %u", kind);
		free(buf);
	}
	usbi_mutex_unlock(&cp->hotplug_lock);
}

/* ---- backend operations ------------------------------------------------ */

static int op_init(struct libusb_context *ctx)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	struct lw_req req;
	struct reader rd;
	uint8_t *buf;
	uint32_t len, count;
	int r;

	if (emscripten_is_main_runtime_thread()) {
		usbi_err(ctx, "libusb-wasm: libusb cannot block on the main runtime thread, where the "
			"transport host runs. Link with -sPROXY_TO_PTHREAD (pkg-config --libs libusb-1.0 "
			"adds it) or call libusb from a pthread.");
		return LIBUSB_ERROR_NOT_SUPPORTED;
	}
	r = lw_channel_open();
	if (r < 0) {
		usbi_err(ctx, "libusb-wasm: no transport host. Run this program with the libusb-wasm "
			"runner (npx libusb-wasm run prog.js), which provides one.");
		return LIBUSB_ERROR_NOT_SUPPORTED;
	}

	usbi_mutex_init(&cp->hotplug_lock);
	atomic_store(&cp->wait_until_ms, UINT32_MAX);
	req_init(&req, LW_OP_CTX_ATTACH);
	req.arg0 = (uint32_t)(uintptr_t)&cp->shared;
	req.arg1 = cp->no_discovery ? LW_CTX_NO_DISCOVERY : 0;
	r = lw_call(&req);
	if (r < 0) {
		usbi_mutex_destroy(&cp->hotplug_lock);
		return r;
	}
	cp->attached = 1;

	if (!cp->no_discovery) {
		/* The host clears this context's pending hotplug events when it
		 * answers, so the list and later events never overlap. */
		req_init(&req, LW_OP_LIST_DEVICES);
		req.arg0 = (uint32_t)(uintptr_t)&cp->shared;
		r = call_with_buffer(&req, &buf, &len);
		if (r < 0) {
			usbi_err(ctx, "libusb-wasm: listing devices failed: %s", libusb_error_name(r));
		} else {
			rd.p = buf;
			rd.left = len;
			rd.bad = 0;
			count = take_u32(&rd); /* struct lw_devlist_header */
			for (uint32_t i = 0; i < count && !rd.bad; i++)
				connect_device_record(ctx, &rd);
			free(buf);
		}
	}

	usbi_mutex_static_lock(&lw_contexts_lock);
	list_add_tail(&cp->list, &lw_contexts);
	usbi_mutex_static_unlock(&lw_contexts_lock);
	return LIBUSB_SUCCESS;
}

static void op_exit(struct libusb_context *ctx)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	struct lw_req req;

	usbi_mutex_static_lock(&lw_contexts_lock);
	list_del(&cp->list);
	usbi_mutex_static_unlock(&lw_contexts_lock);

	req_init(&req, LW_OP_CTX_DETACH);
	req.arg0 = (uint32_t)(uintptr_t)&cp->shared;
	lw_call(&req);
	cp->attached = 0;
	usbi_mutex_destroy(&cp->hotplug_lock);
}

static int op_set_option(struct libusb_context *ctx, enum libusb_option option, va_list args)
{
	UNUSED(args);
	if (option == LIBUSB_OPTION_NO_DEVICE_DISCOVERY) {
		lw_ctx_priv(ctx)->no_discovery = 1;
		return LIBUSB_SUCCESS;
	}
	return LIBUSB_ERROR_NOT_SUPPORTED;
}

static void op_hotplug_poll(void)
{
	struct lw_ctx_priv *cp;

	usbi_mutex_static_lock(&lw_contexts_lock);
	list_for_each_entry(cp, &lw_contexts, list, struct lw_ctx_priv) {
		struct libusb_context *ctx = (struct libusb_context *)
			((unsigned char *)cp - PTR_ALIGN(sizeof(struct libusb_context)));
		lw_apply_hotplug(ctx);
	}
	usbi_mutex_static_unlock(&lw_contexts_lock);
}

static int op_get_device_string(struct libusb_device *dev,
	enum libusb_device_string_type string_type, char *data, int length)
{
	struct lw_req req;
	int r;

	req_init(&req, LW_OP_GET_STRING);
	req.dev = dev_priv(dev)->id;
	req.arg0 = (uint32_t)string_type;
	req.buf = (uint32_t)(uintptr_t)data;
	req.len = length > 0 ? (uint32_t)length : 0;
	r = lw_call(&req);
	return r < 0 ? r : (int)req.actual;
}

static int op_open(struct libusb_device_handle *handle)
{
	struct lw_handle_priv *hp = handle_priv(handle);
	struct lw_req req;
	int r;

	memset(&hp->shared, 0, sizeof(hp->shared));
	hp->auto_detached = 0;
	req_init(&req, LW_OP_OPEN);
	req.dev = dev_priv(handle->dev)->id;
	req.arg0 = (uint32_t)(uintptr_t)&hp->shared;
	r = lw_call(&req);
	if (r < 0)
		return r;
	hp->id = req.actual;
	return LIBUSB_SUCCESS;
}

static void op_close(struct libusb_device_handle *handle)
{
	struct lw_handle_priv *hp = handle_priv(handle);
	struct lw_req req;

	req_init(&req, LW_OP_CLOSE);
	req.dev = dev_priv(handle->dev)->id;
	req.handle = hp->id;
	lw_call(&req);
}

static int copy_config(struct lw_device_priv *dp, int index, void *buffer, size_t len)
{
	size_t n = dp->config_len[index];

	if (n > len)
		n = len;
	memcpy(buffer, dp->configs[index], n);
	return (int)n;
}

static int find_config_by_value(struct lw_device_priv *dp, uint8_t value)
{
	for (int i = 0; i < dp->num_configs; i++) {
		/* bConfigurationValue is byte 5 of a configuration descriptor */
		if (dp->configs[i][5] == value)
			return i;
	}
	return -1;
}

static int active_config_value(struct libusb_device *dev, uint8_t *value)
{
	struct lw_req req;
	int r;

	req_init(&req, LW_OP_GET_CONFIGURATION);
	req.dev = dev_priv(dev)->id;
	r = lw_call(&req);
	if (r < 0)
		return r;
	*value = (uint8_t)req.actual;
	return 0;
}

static int op_get_active_config_descriptor(struct libusb_device *dev, void *buffer, size_t len)
{
	struct lw_device_priv *dp = dev_priv(dev);
	uint8_t value;
	int r, index;

	r = active_config_value(dev, &value);
	if (r < 0)
		return r;
	if (value == 0)
		return LIBUSB_ERROR_NOT_FOUND;
	index = find_config_by_value(dp, value);
	if (index < 0)
		return LIBUSB_ERROR_NOT_FOUND;
	return copy_config(dp, index, buffer, len);
}

static int op_get_config_descriptor(struct libusb_device *dev, uint8_t config_index,
	void *buffer, size_t len)
{
	struct lw_device_priv *dp = dev_priv(dev);

	if (config_index >= dp->num_configs)
		return LIBUSB_ERROR_NOT_FOUND;
	return copy_config(dp, config_index, buffer, len);
}

static int op_get_config_descriptor_by_value(struct libusb_device *dev,
	uint8_t value, void **buffer)
{
	struct lw_device_priv *dp = dev_priv(dev);
	int index = find_config_by_value(dp, value);

	if (index < 0)
		return LIBUSB_ERROR_NOT_FOUND;
	*buffer = dp->configs[index];
	return dp->config_len[index];
}

static int op_get_configuration(struct libusb_device_handle *handle, uint8_t *config)
{
	if (atomic_load(&handle_priv(handle)->shared.gone))
		return LIBUSB_ERROR_NO_DEVICE;
	return active_config_value(handle->dev, config);
}

static int op_set_configuration(struct libusb_device_handle *handle, int config)
{
	return handle_call(handle, LW_OP_SET_CONFIGURATION, (uint32_t)config, 0, NULL);
}

/* libusb leaves auto-detach (libusb_set_auto_detach_kernel_driver) to the
 * backend: detach the driver before claiming, re-attach it after release. */
static int op_claim_interface(struct libusb_device_handle *handle, uint8_t iface)
{
	struct lw_handle_priv *hp = handle_priv(handle);
	uint32_t active = 0;
	int r;

	if (handle->auto_detach_kernel_driver && iface < 32 &&
	    handle_call(handle, LW_OP_KERNEL_DRIVER_ACTIVE, iface, 0, &active) == 0 && active) {
		r = handle_call(handle, LW_OP_DETACH_KERNEL_DRIVER, iface, 0, NULL);
		if (r < 0 && r != LIBUSB_ERROR_NOT_FOUND)
			return r;
		if (r == 0)
			hp->auto_detached |= 1u << iface;
	}
	r = handle_call(handle, LW_OP_CLAIM_INTERFACE, iface, 0, NULL);
	if (r < 0 && iface < 32 && (hp->auto_detached & (1u << iface))) {
		handle_call(handle, LW_OP_ATTACH_KERNEL_DRIVER, iface, 0, NULL);
		hp->auto_detached &= ~(1u << iface);
	}
	return r;
}

static int op_release_interface(struct libusb_device_handle *handle, uint8_t iface)
{
	struct lw_handle_priv *hp = handle_priv(handle);
	int r = handle_call(handle, LW_OP_RELEASE_INTERFACE, iface, 0, NULL);

	if (r == 0 && iface < 32 && (hp->auto_detached & (1u << iface))) {
		int a = handle_call(handle, LW_OP_ATTACH_KERNEL_DRIVER, iface, 0, NULL);
		if (a < 0)
			usbi_warn(HANDLE_CTX(handle), "libusb-wasm: re-attaching the kernel driver of interface %u failed: %s",
				iface, libusb_error_name(a));
		hp->auto_detached &= ~(1u << iface);
	}
	return r;
}

static int op_set_interface_altsetting(struct libusb_device_handle *handle, uint8_t iface,
	uint8_t altsetting)
{
	return handle_call(handle, LW_OP_SET_ALTSETTING, iface, altsetting, NULL);
}

static int op_clear_halt(struct libusb_device_handle *handle, unsigned char endpoint)
{
	return handle_call(handle, LW_OP_CLEAR_HALT, endpoint, 0, NULL);
}

static int op_reset_device(struct libusb_device_handle *handle)
{
	return handle_call(handle, LW_OP_RESET_DEVICE, 0, 0, NULL);
}

static int op_kernel_driver_active(struct libusb_device_handle *handle, uint8_t iface)
{
	uint32_t active = 0;
	int r = handle_call(handle, LW_OP_KERNEL_DRIVER_ACTIVE, iface, 0, &active);

	return r < 0 ? r : (int)active;
}

static int op_detach_kernel_driver(struct libusb_device_handle *handle, uint8_t iface)
{
	return handle_call(handle, LW_OP_DETACH_KERNEL_DRIVER, iface, 0, NULL);
}

static int op_attach_kernel_driver(struct libusb_device_handle *handle, uint8_t iface)
{
	return handle_call(handle, LW_OP_ATTACH_KERNEL_DRIVER, iface, 0, NULL);
}

static void op_destroy_device(struct libusb_device *dev)
{
	free_device_priv(dev_priv(dev));
}

/* Hand a transfer back to libusb as completed by us rather than the host:
 * push it onto its context's completion stack, if nobody completed it first
 * (its `done` word, see protocol.h), and wake the context. */
static int complete_here(struct lw_ctx_priv *cp, struct lw_req *req, int status, uint32_t actual)
{
	uint32_t not_done = 0, head;

	if (!atomic_compare_exchange_strong(&req->done, &not_done, 1))
		return 0;
	req->status = status;
	req->actual = actual;
	head = atomic_load(&cp->shared.done_head);
	do {
		req->next = head;
	} while (!atomic_compare_exchange_weak(&cp->shared.done_head, &head, (uint32_t)(uintptr_t)req));
	atomic_fetch_add(&cp->shared.wake, 1);
	if (atomic_load(&cp->shared.sleepers))
		lw_futex_wake_all(&cp->shared.wake);
	return 1;
}

void lw_drop_devices(struct libusb_context *ctx)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	struct libusb_device *dev;

	if (atomic_exchange(&cp->devices_dropped, 1))
		return;
	/* disconnecting a device takes it off the list (usbi_detach_device),
	 * and nothing adds one once the host is gone (lw_apply_hotplug) */
	for (;;) {
		usbi_mutex_lock(&ctx->usb_devs_lock);
		dev = list_empty(&ctx->usb_devs) ? NULL
			: libusb_ref_device(list_first_entry(&ctx->usb_devs, struct libusb_device, list));
		usbi_mutex_unlock(&ctx->usb_devs_lock);
		if (!dev)
			break;
		usbi_disconnect_device(dev);
		libusb_unref_device(dev);
	}
}

void lw_fail_transfers(struct libusb_context *ctx)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	struct usbi_transfer *itransfer;

	usbi_mutex_lock(&ctx->flying_transfers_lock);
	for_each_transfer(ctx, itransfer) {
		struct lw_transfer_priv *tp = usbi_get_transfer_priv(itransfer);

		if (atomic_load(&tp->posted))
			complete_here(cp, &tp->req, LIBUSB_TRANSFER_NO_DEVICE, 0);
	}
	usbi_mutex_unlock(&ctx->flying_transfers_lock);
}

/*
 * A raw control request that changes what the host tracks (the active
 * configuration, an interface's alternate setting) is carried out as the
 * matching libusb call, with its checks: refused with the error
 * libusb_set_configuration() or libusb_set_interface_alt_setting() gives
 * (LIBUSB_ERROR_BUSY while interfaces are claimed, NOT_FOUND, ACCESS under a
 * policy...), so no program gets around them by sending the request
 * itself. Returns 1 when the request was one of those and went through (the
 * transfer is then complete), 0 when it is not one, or a libusb error.
 */
static int state_change_request(struct usbi_transfer *itransfer, struct lw_transfer_priv *tp)
{
	struct libusb_transfer *transfer = USBI_TRANSFER_TO_LIBUSB_TRANSFER(itransfer);
	struct libusb_device_handle *handle = transfer->dev_handle;
	const uint8_t *setup = transfer->buffer;
	uint16_t value, index;
	int r;

	if (transfer->type != LIBUSB_TRANSFER_TYPE_CONTROL || transfer->length < LIBUSB_CONTROL_SETUP_SIZE)
		return 0;
	value = (uint16_t)(setup[2] | setup[3] << 8);
	index = (uint16_t)(setup[4] | setup[5] << 8);
	if (setup[0] == (LIBUSB_ENDPOINT_OUT | LIBUSB_REQUEST_TYPE_STANDARD | LIBUSB_RECIPIENT_DEVICE) &&
	    setup[1] == LIBUSB_REQUEST_SET_CONFIGURATION)
		r = handle_call(handle, LW_OP_SET_CONFIGURATION, value & 0xff, 0, NULL);
	else if (setup[0] == (LIBUSB_ENDPOINT_OUT | LIBUSB_REQUEST_TYPE_STANDARD | LIBUSB_RECIPIENT_INTERFACE) &&
		 setup[1] == LIBUSB_REQUEST_SET_INTERFACE)
		r = handle_call(handle, LW_OP_SET_ALTSETTING, index & 0xff, value & 0xff, NULL);
	else
		return 0;
	if (r < 0)
		return r;
	req_init(&tp->req, LW_OP_SUBMIT);
	tp->itransfer = itransfer;
	atomic_store(&tp->posted, 1);
	complete_here(lw_ctx_priv(HANDLE_CTX(handle)), &tp->req, LIBUSB_TRANSFER_COMPLETED, 0);
	return 1;
}

static int op_submit_transfer(struct usbi_transfer *itransfer)
{
	struct libusb_transfer *transfer = USBI_TRANSFER_TO_LIBUSB_TRANSFER(itransfer);
	struct libusb_device_handle *handle = transfer->dev_handle;
	struct lw_handle_priv *hp = handle_priv(handle);
	struct lw_transfer_priv *tp = usbi_get_transfer_priv(itransfer);
	struct lw_req *req = &tp->req;
	uint8_t ep = transfer->endpoint;
	int r;

	if (atomic_load(&hp->shared.gone) || lw_host_gone())
		return LIBUSB_ERROR_NO_DEVICE;

	if (transfer->type != LIBUSB_TRANSFER_TYPE_CONTROL) {
		uint32_t mask = (ep & LIBUSB_ENDPOINT_IN) ? atomic_load(&hp->shared.ep_in_mask)
							   : atomic_load(&hp->shared.ep_out_mask);
		if (!(mask & (1u << (ep & 0x0f)))) {
			usbi_warn(HANDLE_CTX(handle), "libusb-wasm: endpoint 0x%02x is not in a claimed "
				"interface's current alternate setting; claim the interface first", ep);
			return LIBUSB_ERROR_NOT_FOUND;
		}
	}
	if (transfer->type == LIBUSB_TRANSFER_TYPE_BULK_STREAM)
		return LIBUSB_ERROR_NOT_SUPPORTED;
	if (transfer->type == LIBUSB_TRANSFER_TYPE_ISOCHRONOUS &&
	    (atomic_load(&hp->shared.flags) & LW_HANDLE_NO_ISO)) {
		usbi_dbg(HANDLE_CTX(handle), "libusb-wasm: this transport cannot do isochronous transfers");
		return LIBUSB_ERROR_NOT_SUPPORTED;
	}
	if (transfer->length < 0 || (transfer->length > 0 && !transfer->buffer))
		return LIBUSB_ERROR_INVALID_PARAM;
	r = state_change_request(itransfer, tp);
	if (r != 0)
		return r < 0 ? r : LIBUSB_SUCCESS;
	r = lw_budget_take((uint32_t)transfer->length);
	if (r < 0) {
		usbi_dbg(HANDLE_CTX(handle), "libusb-wasm: past the limit on transfers or bytes in flight");
		return r;
	}

	req_init(req, LW_OP_SUBMIT);
	tp->itransfer = itransfer;
	req->ctx = (uint32_t)(uintptr_t)&lw_ctx_priv(HANDLE_CTX(handle))->shared;
	req->dev = dev_priv(handle->dev)->id;
	req->handle = hp->id;
	req->arg0 = ep;
	req->arg1 = transfer->type;
	req->buf = (uint32_t)(uintptr_t)transfer->buffer;
	req->len = (uint32_t)transfer->length;
	req->timeout = transfer->timeout;
	req->flags = transfer->flags;
	req->seq = atomic_fetch_add(&lw_next_seq, 1);
	if (transfer->type == LIBUSB_TRANSFER_TYPE_ISOCHRONOUS) {
		req->iso = (uint32_t)(uintptr_t)transfer->iso_packet_desc;
		req->num_iso = (uint32_t)transfer->num_iso_packets;
	}
	atomic_store(&tp->posted, 1);
	lw_post(req);
	if (transfer->timeout)
		lw_transfer_timeout_added(HANDLE_CTX(handle), transfer->timeout);
	return LIBUSB_SUCCESS;
}

static int op_cancel_transfer(struct usbi_transfer *itransfer)
{
	struct lw_transfer_priv *tp = usbi_get_transfer_priv(itransfer);
	struct lw_req req;

	/* The host completes the transfer as cancelled (or answers NOT_FOUND
	 * if it already completed); its data is then never written. */
	req_init(&req, LW_OP_CANCEL);
	req.arg0 = (uint32_t)(uintptr_t)&tp->req;
	req.arg1 = tp->req.seq;
	return lw_call(&req);
}

static void op_clear_transfer_priv(struct usbi_transfer *itransfer)
{
	UNUSED(itransfer);
}

static int op_handle_events(struct libusb_context *ctx, void *event_data,
	unsigned int count, unsigned int num_ready)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	uint32_t head, prev = 0;

	UNUSED(event_data);
	UNUSED(count);
	UNUSED(num_ready);

	/* Take every completion at once, then restore completion order. */
	head = atomic_exchange(&cp->shared.done_head, 0);
	while (head) {
		struct lw_req *req = (struct lw_req *)(uintptr_t)head;
		uint32_t next = req->next;

		req->next = prev;
		prev = head;
		head = next;
	}

	for (head = prev; head; ) {
		struct lw_req *req = (struct lw_req *)(uintptr_t)head;
		struct lw_transfer_priv *tp = (struct lw_transfer_priv *)req;
		struct usbi_transfer *itransfer = tp->itransfer;
		int status = req->status;

		head = req->next;
		atomic_store(&tp->posted, 0);
		if (!USBI_TRANSFER_TO_LIBUSB_TRANSFER(itransfer)->dev_handle) {
			/* the handle was closed with this transfer in flight; libusb
			 * already dropped it (see do_close in core.c) */
			continue;
		}
		if (status == LIBUSB_TRANSFER_CANCELLED) {
			usbi_handle_transfer_cancellation(itransfer);
		} else {
			itransfer->transferred = (int)req->actual;
			usbi_handle_transfer_completion(itransfer, (enum libusb_transfer_status)status);
		}
	}
	return LIBUSB_SUCCESS;
}

const struct usbi_os_backend usbi_backend = {
	.name = "libusb-wasm",
	.caps = USBI_CAP_SUPPORTS_DETACH_KERNEL_DRIVER,
	.init = op_init,
	.exit = op_exit,
	.set_option = op_set_option,
	.get_device_list = NULL, /* hotplug-driven discovery */
	.get_device_string = op_get_device_string,
	.hotplug_poll = op_hotplug_poll,
	.wrap_sys_device = NULL,
	.open = op_open,
	.close = op_close,
	.get_active_config_descriptor = op_get_active_config_descriptor,
	.get_config_descriptor = op_get_config_descriptor,
	.get_config_descriptor_by_value = op_get_config_descriptor_by_value,
	.get_configuration = op_get_configuration,
	.set_configuration = op_set_configuration,
	.claim_interface = op_claim_interface,
	.release_interface = op_release_interface,
	.set_interface_altsetting = op_set_interface_altsetting,
	.clear_halt = op_clear_halt,
	.reset_device = op_reset_device,
	.alloc_streams = NULL,
	.free_streams = NULL,
	.dev_mem_alloc = NULL,
	.dev_mem_free = NULL,
	.kernel_driver_active = op_kernel_driver_active,
	.detach_kernel_driver = op_detach_kernel_driver,
	.attach_kernel_driver = op_attach_kernel_driver,
	.destroy_device = op_destroy_device,
	.submit_transfer = op_submit_transfer,
	.cancel_transfer = op_cancel_transfer,
	.clear_transfer_priv = op_clear_transfer_priv,
	.handle_events = op_handle_events,
	.handle_transfer_completion = NULL,
	.context_priv_size = sizeof(struct lw_ctx_priv),
	.device_priv_size = sizeof(struct lw_device_priv),
	.device_handle_priv_size = sizeof(struct lw_handle_priv),
	.transfer_priv_size = sizeof(struct lw_transfer_priv),
};
