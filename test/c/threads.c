/*
 * libusb from several pthreads at once, against the simulated loopback
 * device: concurrent synchronous transfers (each thread takes its turn at
 * event handling inside libusb), a dedicated event thread with asynchronous
 * transfers, and waking a blocked event handler. Prints PASS/FAIL lines.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libusb.h>
#include "harness.h"

#define VID 0x1209
#define PID 0x0001

static libusb_device_handle *h;

struct worker { int id, iterations, errors; char msg[128]; };

/* GET_DESCRIPTOR(device) over and over */
static void *control_worker(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->iterations; i++) {
		struct libusb_device_descriptor d;
		int r = libusb_get_descriptor(h, LIBUSB_DT_DEVICE, 0, (unsigned char *)&d, sizeof(d));
		if (r != sizeof(d) || libusb_le16_to_cpu(d.idVendor) != VID) {
			w->errors++;
			snprintf(w->msg, sizeof(w->msg), "control %d: %s", i, r < 0 ? libusb_error_name(r) : "bad descriptor");
		}
	}
	return NULL;
}

/* OUT then IN on one endpoint pair, checking the echo */
static void *loopback_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t out_ep = w->id == 0 ? 0x01 : 0x02, in_ep = out_ep | 0x80;
	unsigned char out[48], in[64];
	for (int i = 0; i < w->iterations; i++) {
		int n = 0, r;
		memset(out, (i + w->id * 7) & 0xff, sizeof(out));
		r = libusb_bulk_transfer(h, out_ep, out, sizeof(out), &n, 2000); /* interrupt endpoints take this too */
		if (r == 0)
			r = libusb_interrupt_transfer(h, in_ep, in, sizeof(in), &n, 2000);
		if (r != 0 || n != sizeof(out) || memcmp(in, out, sizeof(out))) {
			w->errors++;
			snprintf(w->msg, sizeof(w->msg), "loopback %d on 0x%02x: %s n=%d", i, out_ep, libusb_error_name(r), n);
			return NULL;
		}
	}
	return NULL;
}

static int test_concurrent_sync(void)
{
	enum { CONTROL = 4, LOOPBACK = 2 };
	pthread_t t[CONTROL + LOOPBACK];
	struct worker w[CONTROL + LOOPBACK];

	memset(w, 0, sizeof(w));
	for (int i = 0; i < CONTROL + LOOPBACK; i++) {
		w[i].id = i < CONTROL ? i : i - CONTROL;
		w[i].iterations = 300;
		CHECK(pthread_create(&t[i], NULL, i < CONTROL ? control_worker : loopback_worker, &w[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < CONTROL + LOOPBACK; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < CONTROL + LOOPBACK; i++)
		CHECK(w[i].errors == 0, "thread %d: %d errors, last: %s", i, w[i].errors, w[i].msg);
	return 0;
}

static atomic_int stop_events;
static atomic_int handler_returned;

static void *event_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_events))
		libusb_handle_events_completed(NULL, (int *)&stop_events);
	atomic_store(&handler_returned, 1);
	return NULL;
}

/* Ask the event thread to stop and wake it; true once it has returned. */
static int stop_event_thread(void)
{
	double t0 = now_ms();

	atomic_store(&stop_events, 1);
	libusb_interrupt_event_handler(NULL);
	while (!atomic_load(&handler_returned) && now_ms() - t0 < 5000) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return atomic_load(&handler_returned);
}

struct pending { pthread_mutex_t lock; pthread_cond_t cond; int done, status, actual; };

static void LIBUSB_CALL on_done(struct libusb_transfer *t)
{
	struct pending *p = t->user_data;
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	p->status = t->status;
	p->actual = t->actual_length;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* The classic pattern: one thread handles events, others submit and wait. */
static int test_event_thread(void)
{
	pthread_t et;
	unsigned char out[100], in[512];
	struct pending p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };

	atomic_store(&stop_events, 0);
	atomic_store(&handler_returned, 0);
	CHECK(pthread_create(&et, NULL, event_thread, NULL) == 0, "pthread_create");
	for (int round = 0; round < 50; round++) {
		struct libusb_transfer *ti = libusb_alloc_transfer(0), *to = libusb_alloc_transfer(0);
		struct pending po = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
		p.done = 0;
		memset(out, round, sizeof(out));
		libusb_fill_bulk_transfer(ti, h, 0x81, in, sizeof(in), on_done, &p, 2000);
		libusb_fill_bulk_transfer(to, h, 0x01, out, sizeof(out), on_done, &po, 2000);
		CHECK(libusb_submit_transfer(ti) == 0 && libusb_submit_transfer(to) == 0, "submit");
		pthread_mutex_lock(&p.lock);
		while (!p.done)
			pthread_cond_wait(&p.cond, &p.lock);
		pthread_mutex_unlock(&p.lock);
		pthread_mutex_lock(&po.lock);
		while (!po.done)
			pthread_cond_wait(&po.cond, &po.lock);
		pthread_mutex_unlock(&po.lock);
		libusb_free_transfer(ti);
		libusb_free_transfer(to);
		CHECK(p.status == LIBUSB_TRANSFER_COMPLETED && p.actual == 100 && in[0] == round, "round %d: status %d actual %d",
			round, p.status, p.actual);
	}
	CHECK(stop_event_thread(), "event thread still blocked 5 s after libusb_interrupt_event_handler");
	pthread_join(et, NULL);
	return 0;
}

/* A thread blocked in libusb_handle_events with nothing pending wakes up
 * when another thread calls libusb_interrupt_event_handler. */
static int test_interrupt_handler(void)
{
	pthread_t et;
	struct timespec settle = { 0, 50000000 };

	atomic_store(&stop_events, 0);
	atomic_store(&handler_returned, 0);
	CHECK(pthread_create(&et, NULL, event_thread, NULL) == 0, "pthread_create");
	nanosleep(&settle, NULL); /* let it block */
	CHECK(!atomic_load(&handler_returned), "event handler returned with nothing to do");
	CHECK(stop_event_thread(), "not woken 5 s after libusb_interrupt_event_handler");
	pthread_join(et, NULL);
	return 0;
}

static int arrivals;
static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev, void *user)
{
	(void)ctx; (void)dev; (void)user;
	if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED)
		arrivals++;
	return 0;
}

/* LIBUSB_HOTPLUG_ENUMERATE reports devices already present, at once. */
static int test_hotplug_enumerate(void)
{
	libusb_hotplug_callback_handle cb;
	int r = libusb_hotplug_register_callback(NULL, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED, LIBUSB_HOTPLUG_ENUMERATE,
		VID, PID, LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, NULL, &cb);
	CHECK(r == 0, "register: %s", libusb_error_name(r));
	CHECK(arrivals == 1, "%d arrivals reported, want 1", arrivals);
	libusb_hotplug_deregister_callback(NULL, cb);
	return 0;
}

static const struct test_case tests[] = {
	{ "concurrent_sync", test_concurrent_sync },
	{ "event_thread", test_event_thread },
	{ "interrupt_handler", test_interrupt_handler },
	{ "hotplug_enumerate", test_hotplug_enumerate },
};

int main(int argc, char **argv)
{
	int failures;

	if (libusb_init_context(NULL, NULL, 0) != 0) {
		printf("FAIL init\n");
		return 100;
	}
	h = libusb_open_device_with_vid_pid(NULL, VID, PID);
	if (!h || libusb_claim_interface(h, 0)) {
		printf("FAIL open\n");
		return 100;
	}
	failures = run_cases(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), 1);
	libusb_close(h);
	libusb_exit(NULL);
	return failures;
}
