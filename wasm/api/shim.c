/*
 * The API shim: the C half of the typed JS API (ts/api/). It is an ordinary
 * libusb program, linked against the libusb-wasm SDK with the pkg-config
 * flags and started by the runner like any other, so everything it does is
 * done by the real libusb. Its main() runs on a pthread (PROXY_TO_PTHREAD)
 * and is the command thread: it executes the commands the JS API server
 * posts in shared memory (api_protocol.h), blocking in libusb as long as it
 * needs to while the transport host keeps serving on the worker's own
 * thread. A second thread runs libusb_handle_events and completes
 * transfers, hotplug events and log lines back to JS the same way.
 *
 * Device and handle ids: devices get ids (never reused) in a registry that
 * holds a reference until the device leaves; handles get ids too. JS never
 * sees a pointer it could misuse.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <emscripten.h>
#include <emscripten/threading.h>
#include <libusb.h>

#include "api_protocol.h"
#include "records.h"

/* Provided by library_api.js: hands the block to the JS API server on the
 * worker's own thread. Returns 0, or nonzero when there is no server. */
extern int lwa_js_attach(struct lwa_block *block);

static struct lwa_block block;
static libusb_context *ctx;
static pthread_t event_thread;
static volatile int stopping;
static int event_thread_running;
static libusb_hotplug_callback_handle hotplug_handle;
static int hotplug_registered;

/* ---- messages to JS ------------------------------------------------------ */

static void to_js(struct lwa_msg *m)
{
	uint32_t self = (uint32_t)(uintptr_t)m;
	uint32_t head = atomic_load(&block.evt_head);

	do {
		m->next = head;
	} while (!atomic_compare_exchange_weak(&block.evt_head, &head, self));
	atomic_fetch_add(&block.evt_bell, 1);
	if (atomic_load(&block.js_waiting))
		emscripten_futex_wake(&block.evt_bell, 1);
}

static struct lwa_msg *new_event(uint32_t kind)
{
	struct lwa_msg *m = calloc(1, sizeof(*m));

	if (m)
		m->kind = kind;
	return m;
}

/* ---- device registry ----------------------------------------------------- */

struct dev_entry {
	uint32_t id;
	libusb_device *dev;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dev_entry *devs;
static size_t num_devs, cap_devs;
static uint32_t next_dev_id = 1;

/* The id of a device, registering it (with a reference) the first time. */
static uint32_t device_id(libusb_device *dev)
{
	uint32_t id = 0;

	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < num_devs; i++) {
		if (devs[i].dev == dev) {
			id = devs[i].id;
			break;
		}
	}
	if (!id) {
		if (num_devs == cap_devs) {
			size_t cap = cap_devs ? cap_devs * 2 : 16;
			struct dev_entry *p = realloc(devs, cap * sizeof(*p));

			if (!p)
				goto out;
			devs = p;
			cap_devs = cap;
		}
		id = next_dev_id++;
		devs[num_devs].id = id;
		devs[num_devs].dev = libusb_ref_device(dev);
		num_devs++;
	}
out:
	pthread_mutex_unlock(&registry_lock);
	return id;
}

/* A referenced device by id, or NULL. The caller unrefs it. */
static libusb_device *device_by_id(uint32_t id)
{
	libusb_device *dev = NULL;

	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < num_devs; i++) {
		if (devs[i].id == id) {
			dev = libusb_ref_device(devs[i].dev);
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return dev;
}

/* Forget a device that left; returns its id (0 if it was never listed). */
static uint32_t forget_device(libusb_device *dev)
{
	uint32_t id = 0;

	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < num_devs; i++) {
		if (devs[i].dev == dev) {
			id = devs[i].id;
			libusb_unref_device(devs[i].dev);
			devs[i] = devs[--num_devs];
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return id;
}

static void forget_all_devices(void)
{
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < num_devs; i++)
		libusb_unref_device(devs[i].dev);
	num_devs = 0;
	pthread_mutex_unlock(&registry_lock);
}

/* ---- handle registry ----------------------------------------------------- */

struct handle_entry {
	uint32_t id;
	libusb_device_handle *handle;
};

static struct handle_entry *handles;
static size_t num_handles, cap_handles;
static uint32_t next_handle_id = 1;
/* Only the command thread uses handles today; the lock keeps the table
 * safe should that change. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;

static libusb_device_handle *handle_by_id(uint32_t id)
{
	libusb_device_handle *h = NULL;

	pthread_mutex_lock(&handles_lock);
	for (size_t i = 0; i < num_handles; i++) {
		if (handles[i].id == id) {
			h = handles[i].handle;
			break;
		}
	}
	pthread_mutex_unlock(&handles_lock);
	return h;
}

static uint32_t add_handle(libusb_device_handle *h)
{
	uint32_t id = 0;

	pthread_mutex_lock(&handles_lock);
	if (num_handles == cap_handles) {
		size_t cap = cap_handles ? cap_handles * 2 : 8;
		struct handle_entry *p = realloc(handles, cap * sizeof(*p));

		if (!p)
			goto out;
		handles = p;
		cap_handles = cap;
	}
	id = next_handle_id++;
	handles[num_handles].id = id;
	handles[num_handles].handle = h;
	num_handles++;
out:
	pthread_mutex_unlock(&handles_lock);
	return id;
}

static libusb_device_handle *remove_handle(uint32_t id)
{
	libusb_device_handle *h = NULL;

	pthread_mutex_lock(&handles_lock);
	for (size_t i = 0; i < num_handles; i++) {
		if (handles[i].id == id) {
			h = handles[i].handle;
			handles[i] = handles[--num_handles];
			break;
		}
	}
	pthread_mutex_unlock(&handles_lock);
	return h;
}

/* ---- hotplug and log events (event thread, or any libusb thread) --------- */

static int LIBUSB_CALL on_hotplug(libusb_context *c, libusb_device *dev,
	libusb_hotplug_event event, void *user_data)
{
	struct lwa_msg *m = new_event(LWA_EVT_HOTPLUG);

	(void)c;
	(void)user_data;
	if (!m)
		return 0;
	if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED) {
		struct record r = { 0 };

		m->arg[0] = LWA_HOTPLUG_ARRIVED;
		m->arg[1] = device_id(dev);
		record_device(&r, ctx, dev, m->arg[1]);
		if (record_to_msg(&r, m) < 0) {
			free(m);
			return 0;
		}
	} else {
		m->arg[0] = LWA_HOTPLUG_LEFT;
		m->arg[1] = forget_device(dev);
		if (!m->arg[1]) {
			free(m); /* never seen by JS */
			return 0;
		}
	}
	to_js(m);
	return 0;
}

static void LIBUSB_CALL on_log(libusb_context *c, enum libusb_log_level level, const char *text)
{
	struct lwa_msg *m;
	size_t n;
	char *copy;

	(void)c;
	if (!text)
		return;
	n = strlen(text);
	copy = malloc(n ? n : 1);
	m = new_event(LWA_EVT_LOG);
	if (!copy || !m) {
		free(copy);
		free(m);
		return;
	}
	memcpy(copy, text, n);
	m->arg[0] = (uint32_t)level;
	m->data = (uint32_t)(uintptr_t)copy;
	m->len = (uint32_t)n;
	to_js(m);
}

static void *event_loop(void *arg)
{
	(void)arg;
	while (!stopping)
		libusb_handle_events_completed(ctx, (int *)&stopping);
	return NULL;
}

/* ---- transfers ----------------------------------------------------------- */

/* Guards lwa_transfer.state and .transfer and the in-flight table between
 * the command thread (submit, cancel, close) and the event thread
 * (completion). */
static pthread_mutex_t transfer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t transfer_done = PTHREAD_COND_INITIALIZER;
static struct lwa_transfer **flying;
static size_t num_flying, cap_flying;

static struct lwa_iso_packet *iso_table(struct lwa_transfer *t)
{
	return (struct lwa_iso_packet *)((uint8_t *)t + LWA_TRANSFER_SIZE);
}

/* With transfer_lock held. */
static int add_flying(struct lwa_transfer *t)
{
	if (num_flying == cap_flying) {
		size_t cap = cap_flying ? cap_flying * 2 : 64;
		struct lwa_transfer **p = realloc(flying, cap * sizeof(*p));

		if (!p)
			return LIBUSB_ERROR_NO_MEM;
		flying = p;
		cap_flying = cap;
	}
	flying[num_flying++] = t;
	return 0;
}

/* With transfer_lock held. */
static void remove_flying(struct lwa_transfer *t)
{
	for (size_t i = 0; i < num_flying; i++) {
		if (flying[i] == t) {
			flying[i] = flying[--num_flying];
			return;
		}
	}
}

static void LIBUSB_CALL on_transfer_done(struct libusb_transfer *xfer)
{
	struct lwa_transfer *t = xfer->user_data;

	pthread_mutex_lock(&transfer_lock);
	t->msg.result = (int32_t)xfer->status;
	t->msg.arg[5] = (uint32_t)xfer->actual_length;
	for (uint32_t i = 0; i < t->num_iso; i++) {
		iso_table(t)[i].actual_length = xfer->iso_packet_desc[i].actual_length;
		iso_table(t)[i].status = (uint32_t)xfer->iso_packet_desc[i].status;
	}
	t->state = LWA_XFER_DONE;
	t->transfer = 0;
	remove_flying(t);
	pthread_cond_broadcast(&transfer_done);
	pthread_mutex_unlock(&transfer_lock);
	libusb_free_transfer(xfer);
	to_js(&t->msg);
}

static void submit(struct lwa_transfer *t)
{
	libusb_device_handle *h = handle_by_id(t->msg.arg[0]);
	struct libusb_transfer *xfer;
	int r;

	if (!h) {
		t->msg.result = LIBUSB_ERROR_NOT_FOUND;
		to_js(&t->msg);
		return;
	}
	xfer = libusb_alloc_transfer((int)t->num_iso);
	if (!xfer) {
		t->msg.result = LIBUSB_ERROR_NO_MEM;
		to_js(&t->msg);
		return;
	}
	xfer->dev_handle = h;
	xfer->endpoint = (unsigned char)t->msg.arg[1];
	xfer->type = (unsigned char)t->msg.arg[2];
	xfer->timeout = t->msg.arg[3];
	xfer->flags = (uint8_t)(t->msg.arg[4] & (LIBUSB_TRANSFER_SHORT_NOT_OK | LIBUSB_TRANSFER_ADD_ZERO_PACKET));
	xfer->buffer = (unsigned char *)(uintptr_t)t->msg.data;
	xfer->length = (int)t->msg.len;
	xfer->num_iso_packets = (int)t->num_iso;
	for (uint32_t i = 0; i < t->num_iso; i++)
		xfer->iso_packet_desc[i].length = iso_table(t)[i].length;
	xfer->callback = on_transfer_done;
	xfer->user_data = t;

	pthread_mutex_lock(&transfer_lock);
	t->state = LWA_XFER_FLYING;
	t->transfer = (uint32_t)(uintptr_t)xfer;
	r = add_flying(t);
	if (r == 0) {
		r = libusb_submit_transfer(xfer);
		if (r < 0)
			remove_flying(t);
	}
	if (r < 0) {
		t->state = LWA_XFER_DONE;
		t->transfer = 0;
	}
	pthread_mutex_unlock(&transfer_lock);
	if (r < 0) {
		libusb_free_transfer(xfer);
		t->msg.result = r;
		to_js(&t->msg);
	}
}

static int cancel(struct lwa_transfer *t)
{
	int r = LIBUSB_ERROR_NOT_FOUND;

	/* Held across libusb_cancel_transfer, so the completion (which takes
	 * the lock first) cannot free the transfer under us. */
	pthread_mutex_lock(&transfer_lock);
	if (t->state == LWA_XFER_FLYING && t->transfer)
		r = libusb_cancel_transfer((struct libusb_transfer *)(uintptr_t)t->transfer);
	pthread_mutex_unlock(&transfer_lock);
	return r;
}

/* Close a handle the way a careful program does: cancel what is in flight
 * on it and wait until libusb has completed it, then libusb_close. Every
 * transfer therefore reaches JS, as CANCELLED if nothing else. */
static void close_handle(uint32_t id, libusb_device_handle *h)
{
	pthread_mutex_lock(&transfer_lock);
	for (size_t i = 0; i < num_flying; i++) {
		if (flying[i]->msg.arg[0] == id && flying[i]->transfer)
			libusb_cancel_transfer((struct libusb_transfer *)(uintptr_t)flying[i]->transfer);
	}
	for (;;) {
		int pending = 0;

		for (size_t i = 0; i < num_flying; i++)
			pending |= flying[i]->msg.arg[0] == id;
		if (!pending)
			break;
		pthread_cond_wait(&transfer_done, &transfer_lock);
	}
	pthread_mutex_unlock(&transfer_lock);
	libusb_close(h);
}

/* ---- commands ------------------------------------------------------------ */

static int do_init(struct lwa_msg *m)
{
	struct libusb_init_option options[2];
	int n = 0, r;

	if (ctx)
		return LIBUSB_ERROR_BUSY;
	/* The global handler sees every message once, and replaces libusb's
	 * stderr output (a per-context handler would come on top of it). */
	libusb_set_log_cb(NULL, on_log, LIBUSB_LOG_CB_GLOBAL);
	options[n].option = LIBUSB_OPTION_LOG_LEVEL;
	options[n].value.ival = (int)m->arg[0];
	n++;
	if (m->arg[1] & LWA_INIT_NO_DEVICE_DISCOVERY) {
		options[n].option = LIBUSB_OPTION_NO_DEVICE_DISCOVERY;
		options[n].value.ival = 1;
		n++;
	}
	r = libusb_init_context(&ctx, options, n);
	if (r < 0) {
		ctx = NULL;
		return r;
	}
	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		r = libusb_hotplug_register_callback(ctx,
			LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
			LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
			on_hotplug, NULL, &hotplug_handle);
		hotplug_registered = r == 0;
	}
	stopping = 0;
	if (pthread_create(&event_thread, NULL, event_loop, NULL) != 0) {
		libusb_exit(ctx);
		ctx = NULL;
		return LIBUSB_ERROR_NO_MEM;
	}
	event_thread_running = 1;
	m->arg[2] = (uint32_t)hotplug_registered;
	return 0;
}

static void do_exit(void)
{
	if (!ctx)
		return;
	if (hotplug_registered)
		libusb_hotplug_deregister_callback(ctx, hotplug_handle);
	hotplug_registered = 0;
	/* the event thread still runs: it completes what closing cancels */
	for (;;) {
		struct handle_entry e = { 0, NULL };

		pthread_mutex_lock(&handles_lock);
		if (num_handles)
			e = handles[--num_handles];
		pthread_mutex_unlock(&handles_lock);
		if (!e.handle)
			break;
		close_handle(e.id, e.handle);
	}
	forget_all_devices();
	if (event_thread_running) {
		stopping = 1;
		libusb_interrupt_event_handler(ctx);
		pthread_join(event_thread, NULL);
		event_thread_running = 0;
	}
	libusb_exit(ctx);
	ctx = NULL;
}

static int do_get_device_list(struct lwa_msg *m)
{
	libusb_device **list;
	ssize_t n = libusb_get_device_list(ctx, &list);
	struct record r = { 0 };

	if (n < 0)
		return (int)n;
	record_device_list(&r, ctx, list, (size_t)n, device_id);
	libusb_free_device_list(list, 1);
	return record_to_msg(&r, m);
}

static int do_open(struct lwa_msg *m)
{
	libusb_device *dev = device_by_id(m->arg[0]);
	libusb_device_handle *h;
	int r;

	if (!dev)
		return LIBUSB_ERROR_NO_DEVICE;
	r = libusb_open(dev, &h);
	libusb_unref_device(dev);
	if (r < 0)
		return r;
	m->arg[1] = add_handle(h);
	if (!m->arg[1]) {
		libusb_close(h);
		return LIBUSB_ERROR_NO_MEM;
	}
	return 0;
}

static int do_get_string(struct lwa_msg *m, libusb_device_handle *h)
{
	unsigned char buf[255];
	uint16_t langid = (uint16_t)m->arg[2];
	uint8_t *copy;
	int r;

	if (m->arg[1] == 0)
		return LIBUSB_ERROR_INVALID_PARAM; /* index 0 is the language list; ask for it as such */
	if (langid == 0) {
		r = libusb_get_string_descriptor(h, 0, 0, buf, sizeof(buf));
		if (r < 0)
			return r;
		if (r < 4)
			return LIBUSB_ERROR_IO;
		langid = (uint16_t)(buf[2] | buf[3] << 8);
	}
	r = libusb_get_string_descriptor(h, (uint8_t)m->arg[1], langid, buf, sizeof(buf));
	if (r < 0)
		return r;
	if (r < 2 || buf[1] != LIBUSB_DT_STRING || buf[0] > r)
		return LIBUSB_ERROR_IO;
	copy = malloc(buf[0] > 2 ? buf[0] - 2 : 1);
	if (!copy)
		return LIBUSB_ERROR_NO_MEM;
	memcpy(copy, buf + 2, buf[0] > 2 ? buf[0] - 2 : 0);
	m->data = (uint32_t)(uintptr_t)copy;
	m->len = buf[0] > 2 ? buf[0] - 2u : 0;
	m->arg[3] = langid;
	return 0;
}

static int do_get_bos(struct lwa_msg *m, libusb_device_handle *h)
{
	struct libusb_bos_descriptor *bos;
	struct record rec = { 0 };
	int r = libusb_get_bos_descriptor(h, &bos);

	if (r < 0)
		return r;
	record_bos(&rec, bos);
	libusb_free_bos_descriptor(bos);
	return record_to_msg(&rec, m);
}

static int handle_command(struct lwa_msg *m, libusb_device_handle *h)
{
	switch (m->kind) {
	case LWA_OP_GET_CONFIGURATION: {
		int value = 0;
		int r = libusb_get_configuration(h, &value);

		m->arg[1] = (uint32_t)value;
		return r;
	}
	case LWA_OP_SET_CONFIGURATION:
		return libusb_set_configuration(h, (int)m->arg[1]);
	case LWA_OP_CLAIM_INTERFACE:
		return libusb_claim_interface(h, (int)m->arg[1]);
	case LWA_OP_RELEASE_INTERFACE:
		return libusb_release_interface(h, (int)m->arg[1]);
	case LWA_OP_SET_ALTSETTING:
		return libusb_set_interface_alt_setting(h, (int)m->arg[1], (int)m->arg[2]);
	case LWA_OP_CLEAR_HALT:
		return libusb_clear_halt(h, (unsigned char)m->arg[1]);
	case LWA_OP_RESET_DEVICE:
		return libusb_reset_device(h);
	case LWA_OP_KERNEL_DRIVER_ACTIVE: {
		int r = libusb_kernel_driver_active(h, (int)m->arg[1]);

		if (r < 0)
			return r;
		m->arg[2] = (uint32_t)r;
		return 0;
	}
	case LWA_OP_DETACH_KERNEL_DRIVER:
		return libusb_detach_kernel_driver(h, (int)m->arg[1]);
	case LWA_OP_ATTACH_KERNEL_DRIVER:
		return libusb_attach_kernel_driver(h, (int)m->arg[1]);
	case LWA_OP_SET_AUTO_DETACH:
		return libusb_set_auto_detach_kernel_driver(h, (int)m->arg[1]);
	case LWA_OP_GET_STRING_DESCRIPTOR:
		return do_get_string(m, h);
	case LWA_OP_GET_BOS:
		return do_get_bos(m, h);
	default:
		return LIBUSB_ERROR_NOT_SUPPORTED;
	}
}

/* Runs one command; returns 1 when the program should end. */
static int run_command(struct lwa_msg *m)
{
	if (m->kind == LWA_OP_SUBMIT) {
		if (!ctx) {
			m->result = LIBUSB_ERROR_OTHER; /* not initialized */
			to_js(m);
		} else {
			submit((struct lwa_transfer *)m);
		}
		return 0;
	}
	if (m->kind == LWA_OP_INIT) {
		m->result = do_init(m);
		to_js(m);
		return 0;
	}
	if (m->kind == LWA_OP_EXIT) {
		do_exit();
		m->result = 0;
		to_js(m);
		return 1;
	}
	if (!ctx) {
		m->result = LIBUSB_ERROR_OTHER;
		to_js(m);
		return 0;
	}
	switch (m->kind) {
	case LWA_OP_SET_LOG_LEVEL:
		m->result = libusb_set_option(ctx, LIBUSB_OPTION_LOG_LEVEL, (int)m->arg[0]);
		break;
	case LWA_OP_GET_DEVICE_LIST:
		m->result = do_get_device_list(m);
		break;
	case LWA_OP_OPEN:
		m->result = do_open(m);
		break;
	case LWA_OP_CLOSE: {
		libusb_device_handle *h = remove_handle(m->arg[0]);

		if (h)
			close_handle(m->arg[0], h);
		m->result = h ? 0 : LIBUSB_ERROR_NOT_FOUND;
		break;
	}
	case LWA_OP_CANCEL:
		m->result = cancel((struct lwa_transfer *)(uintptr_t)m->arg[0]);
		break;
	default: {
		libusb_device_handle *h = handle_by_id(m->arg[0]);

		m->result = h ? handle_command(m, h) : LIBUSB_ERROR_NOT_FOUND;
		break;
	}
	}
	to_js(m);
	return 0;
}

/* ---- the command thread ---------------------------------------------------- */

/* Spin this long for the next command before sleeping: bursts of transfers
 * then cost no futex wake-up. */
#define SPIN_MS 0.05

static struct lwa_msg *take_commands(void)
{
	uint32_t head = atomic_exchange(&block.cmd_head, 0), prev = 0;

	/* the stack is newest first: reverse it to keep JS's order */
	while (head) {
		struct lwa_msg *m = (struct lwa_msg *)(uintptr_t)head;
		uint32_t next = m->next;

		m->next = prev;
		prev = head;
		head = next;
	}
	return (struct lwa_msg *)(uintptr_t)prev;
}

static void wait_for_commands(void)
{
	double spin_until = emscripten_get_now() + SPIN_MS;
	uint32_t seen;

	while (emscripten_get_now() < spin_until)
		if (atomic_load(&block.cmd_head))
			return;
	seen = atomic_load(&block.cmd_bell);
	atomic_store(&block.cmd_sleeping, 1);
	if (!atomic_load(&block.cmd_head))
		emscripten_futex_wait(&block.cmd_bell, seen, INFINITY);
	atomic_store(&block.cmd_sleeping, 0);
}

int main(void)
{
	block.magic = LWA_MAGIC;
	block.version = LWA_VERSION;
	if (lwa_js_attach(&block) != 0)
		return 2;
	for (;;) {
		struct lwa_msg *m = take_commands();

		if (!m) {
			wait_for_commands();
			continue;
		}
		while (m) {
			struct lwa_msg *next = (struct lwa_msg *)(uintptr_t)m->next;

			if (run_command(m)) {
				/* commands after EXIT are answered, never run */
				for (m = next; m; m = next) {
					next = (struct lwa_msg *)(uintptr_t)m->next;
					m->result = LIBUSB_ERROR_NO_DEVICE;
					to_js(m);
				}
				return 0;
			}
			m = next;
		}
	}
}
