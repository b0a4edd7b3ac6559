// SPDX-License-Identifier: MIT
/*
 * Unit tests of the agent (build/lib/libllminstr.so) in a process without
 * CUDA: this program links the library, so its listener runs here, and
 * plays the tracer against it over the real socket (fake_tracer.h). The
 * handshake and its refusals, host tensors in the ring byte for byte,
 * selection, argument refusals, unreadable memory, --on-full drop and
 * block, detach, a fork child, and libcuda loaded after the attach.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dlfcn.h>
#include <cmocka.h>
#include "fake_tracer.h"

static const struct ft_opts base = {
	.data_size = 1 << 20, .nslots = 64, .spec = "all",
	.on_full = LLMI_ON_FULL_BLOCK, .device_buffer = 1 << 20,
};

static struct ft T;

static int teardown(void **state)
{
	if (T.map)
		ft_detach(&T);
	llminstr_step(0);
	return 0;
}

static void test_handshake(void **state)
{
	assert_int_equal(llminstr_attached(), 0);
	ft_attach(&T, &base);
	assert_int_equal(T.reply.magic, LLMI_AGENT_MAGIC);
	assert_int_equal(T.reply.proto, LLMI_AGENT_PROTO);
	assert_int_equal(T.reply.pid, getpid());
	assert_non_null(strstr(T.reply.msg, "protocol 1"));
	/* no libcuda in this process, and the agent did not load one */
	assert_int_equal(T.reply.flags & LLMI_AGENT_CUDA, 0);
	assert_null(dlopen("libcuda.so.1", RTLD_NOLOAD | RTLD_NOW));
	ft_detach(&T);
}

static void test_wrong_proto(void **state)
{
	struct ft_opts o = base;

	o.proto = 7;
	assert_int_equal(ft_open(&T, getpid(), &o), -EPROTO);
	if (!strstr(T.reply.msg, "protocol 7") || !strstr(T.reply.msg, "protocol 1"))
		fail_msg("the refusal does not name both versions: %s", T.reply.msg);
	assert_int_equal(llminstr_attached(), 0);
	ft_close(&T);
}

static void test_bad_hellos(void **state)
{
	struct ft_opts o = base;

	o.magic = 0x12345678;
	assert_int_equal(ft_open(&T, getpid(), &o), -EPROTO);
	assert_non_null(strstr(T.reply.msg, "magic"));
	ft_close(&T);
	o = base;
	o.send_bytes = 100;	/* cut short */
	assert_int_equal(ft_open(&T, getpid(), &o), -EPROTO);
	assert_non_null(strstr(T.reply.msg, "100 bytes"));
	ft_close(&T);
	o = base;
	o.on_full = 5;
	assert_int_equal(ft_open(&T, getpid(), &o), -EINVAL);
	assert_non_null(strstr(T.reply.msg, "on_full"));
	ft_close(&T);
	assert_int_equal(llminstr_attached(), 0);
}

static void test_bad_spec(void **state)
{
	struct ft_opts o = base;

	o.spec = "name=blk.*\nevery=0";
	assert_int_equal(ft_open(&T, getpid(), &o), -EINVAL);
	if (!strstr(T.reply.msg, "every=0"))
		fail_msg("the refusal does not name the term: %s", T.reply.msg);
	assert_int_equal(llminstr_attached(), 0);
	ft_close(&T);
}

static void test_second_tracer_busy(void **state)
{
	struct ft second;
	float x = 1;

	ft_attach(&T, &base);
	assert_int_equal(ft_open(&second, getpid(), &base), -EBUSY);
	assert_non_null(strstr(second.reply.msg, "already traced"));
	ft_close(&second);
	/* the first one is still served */
	assert_int_equal(llminstr_attached(), 1);
	assert_int_equal(llminstr_capture("x", &x, LLMINSTR_F32, 0, NULL, NULL), 1);
	ft_detach(&T);
}

static void test_host_capture(void **state)
{
	float a[2][3] = { { 1, 2, 3 }, { -4, 5.5f, 1e30f } };
	uint16_t b[5] = { 0x3f80, 0x4000, 0xbf80, 0x7fc0, 0 };
	int64_t sa[2] = { 2, 3 }, sb[1] = { 5 }, se[2] = { 0, 7 };
	struct llmi_ring_slot *s;
	float scalar = 42;
	void *d;

	ft_attach(&T, &base);
	llminstr_step(5);
	assert_int_equal(llminstr_capture("blk.0.resid", a, LLMINSTR_F32, 2, sa, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_string_equal(s->name, "blk.0.resid");
	assert_int_equal(s->name_len, 11);
	assert_int_equal(s->step, 5);
	assert_int_equal(s->dtype, LLMINSTR_F32);
	assert_int_equal(s->ndim, 2);
	assert_int_equal(s->shape[0], 2);
	assert_int_equal(s->shape[1], 3);
	assert_int_equal(s->shape[2], 0);
	assert_int_equal(s->bytes, sizeof(a));
	assert_int_equal(s->flags, 0);
	assert_int_equal(s->stream, 0);
	assert_int_equal(s->tid, (uint32_t)syscall(SYS_gettid));
	assert_true(s->capture_ns > 0 && s->capture_ns <= s->ready_ns);
	assert_memory_equal(d, a, sizeof(a));
	/* a host tensor is copied before the call returns */
	a[0][0] = 99;
	assert_int_equal(((float *)d)[0], 1);

	llminstr_step(6);
	assert_int_equal(llminstr_capture("emb", b, LLMINSTR_BF16, 1, sb, (void *)0x1234), 1);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(s->dtype, LLMINSTR_BF16);
	assert_int_equal(s->step, 6);
	assert_int_equal(s->bytes, 10);
	assert_memory_equal(d, b, sizeof(b));
	/* a 0-d tensor is one element; an empty one has no bytes */
	assert_int_equal(llminstr_capture("scalar", &scalar, LLMINSTR_F16, 0, NULL, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 2, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(s->bytes, 2);
	assert_int_equal(llminstr_capture("empty", &scalar, LLMINSTR_F32, 2, se, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 3, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(s->bytes, 0);
	assert_int_equal(s->shape[1], 7);
	/* one eventfd count per published tensor */
	assert_int_equal(ft_events(&T), 4);
	assert_int_equal(atomic_load(&T.r.hdr->taken), 4);
	assert_int_equal(atomic_load(&T.r.hdr->taken_bytes), sizeof(a) + 10 + 2);
	ft_detach(&T);
}

static void test_selection(void **state)
{
	struct ft_opts o = base;
	struct llmi_ring_slot *s;
	float x = 1;
	void *d;

	o.spec = "name=blk.*.resid\nevery=2";
	ft_attach(&T, &o);
	llminstr_step(1);
	assert_int_equal(llminstr_selected("blk.0.resid"), 0);
	assert_int_equal(llminstr_capture("blk.0.resid", &x, LLMINSTR_F32, 0, NULL, NULL), 0);
	llminstr_step(2);
	assert_int_equal(llminstr_selected("blk.0.resid"), 1);
	assert_int_equal(llminstr_selected("logits"), 0);
	assert_int_equal(llminstr_selected(NULL), 0);
	assert_int_equal(llminstr_capture("logits", &x, LLMINSTR_F32, 0, NULL, NULL), 0);
	assert_int_equal(llminstr_capture("blk.3.resid", &x, LLMINSTR_F32, 0, NULL, NULL), 1);
	/* only the selected one went into the ring */
	assert_int_equal(atomic_load(&T.r.hdr->prod_seq), 1);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_string_equal(s->name, "blk.3.resid");
	assert_int_equal(s->step, 2);
	ft_detach(&T);
}

static void test_argument_refusals(void **state)
{
	int64_t shape[9] = { 2, 2, 1, 1, 1, 1, 1, 1, 1 }, neg[2] = { 2, -1 };
	int64_t huge[2] = { INT64_MAX, 4 };
	char name[LLMINSTR_NAME_MAX + 2];
	float x[4] = { 0 };

	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture(NULL, x, LLMINSTR_F32, 1, shape, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", NULL, LLMINSTR_F32, 1, shape, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("", x, LLMINSTR_F32, 1, shape, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", x, LLMINSTR_F32, 9, shape, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", x, LLMINSTR_F32, -1, shape, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", x, LLMINSTR_F32, 2, NULL, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", x, LLMINSTR_F32, 2, neg, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", x, LLMINSTR_F32, 2, huge, NULL), -EINVAL);
	assert_int_equal(llminstr_capture("x", x, 0, 1, shape, NULL), -ENOTSUP);
	assert_int_equal(llminstr_capture("x", x, 4, 1, shape, NULL), -ENOTSUP);
	memset(name, 'n', sizeof(name));
	name[LLMINSTR_NAME_MAX + 1] = '\0';
	assert_int_equal(llminstr_capture(name, x, LLMINSTR_F32, 1, shape, NULL), -ENAMETOOLONG);
	/* nothing refused took a slot or counted a drop */
	assert_int_equal(atomic_load(&T.r.hdr->prod_seq), 0);
	assert_int_equal(atomic_load(&T.r.hdr->dropped[LLMI_DROP_ERROR]), 0);
	/* the longest name and the most dimensions are fine */
	name[LLMINSTR_NAME_MAX] = '\0';
	assert_int_equal(llminstr_capture(name, x, LLMINSTR_F32, 8, shape, NULL), 1);
	ft_detach(&T);
	/* dormant: a flag read, whatever the arguments */
	assert_int_equal(llminstr_capture(NULL, NULL, 99, 99, NULL, NULL), 0);
}

static void test_unreadable_pointer(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	int64_t n = 256, across = page / 4 + 4;
	struct llmi_ring_drops *dr;
	struct llmi_ring_slot *s;
	float ok[4] = { 1, 2, 3, 4 };
	int64_t four = 4;
	void *d;

	assert_true(p != MAP_FAILED);
	memset(p, 1, 2 * (size_t)page);
	munmap(p + page, (size_t)page);
	ft_attach(&T, &base);
	/* wholly unmapped, and running from a mapped page into an unmapped one */
	assert_int_equal(llminstr_capture("gone", p + page, LLMINSTR_F32, 1, &n, NULL), -EFAULT);
	assert_int_equal(llminstr_capture("gone", p, LLMINSTR_F32, 1, &across, NULL), -EFAULT);
	dr = ft_drops(&T, "gone");
	assert_non_null(dr);
	assert_int_equal(atomic_load(&dr->count[LLMI_DROP_ERROR]), 2);
	assert_int_equal(atomic_load(&T.r.hdr->dropped[LLMI_DROP_ERROR]), 2);
	/* their slots are published as failed, to be released */
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_FAILED);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_FAILED);
	/* and the program goes on */
	assert_int_equal(llminstr_capture("fine", ok, LLMINSTR_F32, 1, &four, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 2, &s, &d), LLMI_SLOT_READY);
	assert_memory_equal(d, ok, sizeof(ok));
	ft_detach(&T);
	munmap(p, (size_t)page);
}

/* A step's token ids: a slot of their own (LLMI_SLOT_TOKENS), ids as given; bad calls refused. */
static void test_tokens(void **state)
{
	int64_t ids[5] = { 7, -1, 1LL << 40, 0, 42 };
	struct llmi_ring_slot *s;
	void *d;

	assert_int_equal(llminstr_tokens(ids, 5), 0);	/* dormant */
	ft_attach(&T, &base);
	llminstr_step(3);
	assert_int_equal(llminstr_tokens(ids, 5), 1);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_true(s->flags & LLMI_SLOT_TOKENS);
	assert_int_equal(s->step, 3);
	assert_int_equal(s->ndim, 1);
	assert_int_equal(s->shape[0], 5);
	assert_int_equal(s->bytes, sizeof(ids));
	assert_memory_equal(d, ids, sizeof(ids));
	assert_int_equal(llminstr_tokens(NULL, 2), -EINVAL);
	assert_int_equal(llminstr_tokens(ids, -1), -EINVAL);
	assert_int_equal(llminstr_tokens((const int64_t *)8, 2), -EFAULT);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_FAILED);
	assert_int_equal(llminstr_tokens(ids, 0), 1);	/* a step without tokens: said so */
	assert_int_equal(ft_wait_slot(&T, 2, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(s->bytes, 0);
	ft_detach(&T);
}

/* Mapped but not readable, resident or not: refused; read-only or never touched: taken. */
static void test_protected_pointer(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 4 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	int64_t n = page / 4;
	struct llmi_ring_slot *s;
	char zero[64] = { 0 };
	void *d;

	assert_true(p != MAP_FAILED);
	memset(p, 7, 3 * (size_t)page);		/* the last page is never touched */
	assert_int_equal(mprotect(p, (size_t)page, PROT_NONE), 0);
	assert_int_equal(mprotect(p + page, (size_t)page, PROT_READ), 0);
	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("none", p, LLMINSTR_F32, 1, &n, NULL), -EFAULT);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_FAILED);
	assert_int_equal(llminstr_capture("ro", p + page, LLMINSTR_F32, 1, &n, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(((unsigned char *)d)[page - 1], 7);
	assert_int_equal(llminstr_capture("fresh", p + 3 * page, LLMINSTR_F32, 1, &n, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 2, &s, &d), LLMI_SLOT_READY);
	assert_memory_equal(d, zero, sizeof(zero));
	ft_detach(&T);
	munmap(p, 4 * (size_t)page);
}

static void test_on_full_drop(void **state)
{
	struct ft_opts o = base;
	static float big[2048];
	int64_t n1024 = 1024, n16 = 16, n2048 = 2048;
	struct llmi_ring_drops *dr;
	struct llmi_ring_slot *s;
	void *d;

	o.data_size = 4096;
	o.nslots = 4;
	o.on_full = LLMI_ON_FULL_DROP;
	ft_attach(&T, &o);
	assert_int_equal(llminstr_capture("a", big, LLMINSTR_F32, 1, &n1024, NULL), 1);
	assert_int_equal(llminstr_capture("b", big, LLMINSTR_F32, 1, &n16, NULL), -ENOBUFS);
	assert_int_equal(llminstr_capture("b", big, LLMINSTR_F32, 1, &n16, NULL), -ENOBUFS);
	dr = ft_drops(&T, "b");
	assert_non_null(dr);
	assert_int_equal(atomic_load(&dr->count[LLMI_DROP_FULL]), 2);
	assert_int_equal(atomic_load(&T.r.hdr->dropped[LLMI_DROP_FULL]), 2);
	/* never fits, whatever the consumer does */
	assert_int_equal(llminstr_capture("c", big, LLMINSTR_F32, 1, &n2048, NULL), -E2BIG);
	assert_non_null(ft_drops(&T, "c"));
	assert_int_equal(atomic_load(&ft_drops(&T, "c")->count[LLMI_DROP_TOO_LARGE]), 1);
	/* room again once the consumer releases */
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	llmi_ring_release(&T.r, 1);
	assert_int_equal(llminstr_capture("b", big, LLMINSTR_F32, 1, &n16, NULL), 1);
	assert_int_equal(atomic_load(&T.r.hdr->blocked_ns), 0);
	ft_detach(&T);
}

struct blocked {
	pthread_t thr;
	pid_t tid;
	atomic_int returned;
	int rc;
};

static float bbuf[1024];

static void *block_capture(void *arg)
{
	struct blocked *b = arg;
	int64_t n = 16;

	b->tid = (pid_t)syscall(SYS_gettid);
	b->rc = llminstr_capture("late", bbuf, LLMINSTR_F32, 1, &n, NULL);
	atomic_store(&b->returned, 1);
	return NULL;
}

/* Whether thread tid sleeps in a futex wait (/proc/self/task/TID/syscall). */
static bool in_futex(pid_t tid)
{
	char path[64], buf[64] = "";
	FILE *f;
	long nr = -1;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f))
		nr = strtol(buf, NULL, 10);
	fclose(f);
	return nr == SYS_futex;
}

static void start_blocked(struct blocked *b, struct llmi_ring_slot **s)
{
	int64_t n1024 = 1024;
	void *d;

	memset(b, 0, sizeof(*b));
	assert_int_equal(llminstr_capture("first", bbuf, LLMINSTR_F32, 1, &n1024, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 0, s, &d), LLMI_SLOT_READY);
	assert_int_equal(pthread_create(&b->thr, NULL, block_capture, b), 0);
	/* the ring is full: the capturing thread ends up waiting in the
	 * kernel, and stays there */
	assert_true(FT_WAIT_UNTIL(b->tid && in_futex(b->tid) &&
				  atomic_load(&T.r.hdr->prod_seq) == 1));
	assert_int_equal(atomic_load(&b->returned), 0);
	assert_int_equal(atomic_load(&T.r.hdr->blocked_ns), 0);
}

static void test_on_full_block(void **state)
{
	struct ft_opts o = base;
	struct llmi_ring_slot *s;
	struct blocked b;
	void *d;

	o.data_size = 4096;
	o.nslots = 4;
	ft_attach(&T, &o);
	start_blocked(&b, &s);
	/* the consumer makes room: the capture goes through */
	llmi_ring_release(&T.r, 1);
	pthread_join(b.thr, NULL);
	assert_int_equal(b.rc, 1);
	assert_true(atomic_load(&T.r.hdr->blocked_ns) > 0);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_READY);
	assert_string_equal(s->name, "late");
	assert_int_equal(atomic_load(&T.r.hdr->dropped[LLMI_DROP_FULL]), 0);
	ft_detach(&T);
}

static void test_block_then_tracer_leaves(void **state)
{
	struct ft_opts o = base;
	struct llmi_ring_slot *s;
	struct blocked b;

	o.data_size = 4096;
	o.nslots = 4;
	ft_attach(&T, &o);
	start_blocked(&b, &s);
	/* nobody will make room: the waiting thread is let go, unharmed */
	ft_detach(&T);
	pthread_join(b.thr, NULL);
	assert_int_equal(b.rc, 0);
}

static void test_detach_and_reattach(void **state)
{
	struct llmi_ring_slot *s;
	float x = 3;
	void *d;

	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("x", &x, LLMINSTR_F32, 0, NULL, NULL), 1);
	ft_close(&T);
	/* the agent sees the tracer go and goes dormant */
	assert_true(FT_WAIT_UNTIL(!llminstr_attached()));
	assert_int_equal(llminstr_capture("x", &x, LLMINSTR_F32, 0, NULL, NULL), 0);
	assert_int_equal(llminstr_selected("x"), 0);
	/* a new tracer, a new ring, numbered from 0 */
	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("y", &x, LLMINSTR_F32, 0, NULL, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_string_equal(s->name, "y");
	ft_detach(&T);
}

/* The tracer's end of capture: hang up, then drain until the agent says it
 * has let go. */
static void test_hangup_then_drain(void **state)
{
	struct llmi_ring_slot *s;
	float x[3] = { 7, 8, 9 };
	int64_t n = 3;
	uint64_t i;
	void *d;

	ft_attach(&T, &base);
	for (i = 0; i < 3; i++)
		assert_int_equal(llminstr_capture("h", x, LLMINSTR_F32, 1, &n, NULL), 1);
	assert_int_equal(atomic_load(&T.r.hdr->agent_done), 0);
	ft_hangup(&T);
	assert_true(FT_WAIT_UNTIL(atomic_load(&T.r.hdr->agent_done) == 1));
	assert_int_equal(llminstr_attached(), 0);
	assert_int_equal(atomic_load(&T.r.hdr->prod_seq), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ft_wait_slot(&T, i, &s, &d), LLMI_SLOT_READY);
		assert_memory_equal(d, x, sizeof(x));
	}
	ft_close(&T);
}

/* A fork child is a new process: not traced by its parent's tracer, and
 * traceable by its own. */
static void test_fork_child(void **state)
{
	float x = 5;
	int status;
	pid_t pid;

	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("parent", &x, LLMINSTR_F32, 0, NULL, NULL), 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ft child;
		int rc = 0;

		if (llminstr_attached() || llminstr_capture("c", &x, LLMINSTR_F32, 0, NULL, NULL))
			_exit(10);
		rc = ft_open(&child, getpid(), &base);
		if (rc)
			_exit(11);
		if (llminstr_capture("c", &x, LLMINSTR_F32, 0, NULL, NULL) != 1 ||
		    atomic_load(&child.r.hdr->taken) != 1)
			_exit(12);
		ft_close(&child);
		_exit(FT_WAIT_UNTIL(!llminstr_attached()) ? 0 : 13);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the child wrote nothing into the parent's ring */
	assert_int_equal(atomic_load(&T.r.hdr->prod_seq), 1);
	assert_int_equal(llminstr_attached(), 1);
	ft_detach(&T);
}

/*
 * A process may load libcuda after the tracer attached (PyTorch does at its
 * first CUDA call): device tensors are recognised from then on. Last, as
 * it loads the stand-in's libcuda into this process for good.
 */
static void test_cuda_loaded_later(void **state)
{
	int (*init)(unsigned int), (*alloc)(unsigned long long *, size_t);
	int (*htod)(unsigned long long, const void *, size_t), (*dfree)(unsigned long long);
	char exe[PATH_MAX], lib[PATH_MAX + 32];
	float x[4] = { 1, 2, 3, 4 };
	struct llmi_ring_slot *s;
	unsigned long long dp;
	int64_t n = 4;
	ssize_t len;
	void *h, *d;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(lib, sizeof(lib), "%s/../../sim/libcuda.so.1", exe);
	if (access(lib, R_OK))
		skip();	/* built without the stand-in (no CUDA headers) */
	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("before", x, LLMINSTR_F32, 1, &n, NULL), 1);
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	init = (int (*)(unsigned int))dlsym(h, "cuInit");
	alloc = (int (*)(unsigned long long *, size_t))dlsym(h, "cuMemAlloc_v2");
	htod = (int (*)(unsigned long long, const void *, size_t))dlsym(h, "cuMemcpyHtoD_v2");
	dfree = (int (*)(unsigned long long))dlsym(h, "cuMemFree_v2");
	assert_true(init && alloc && htod && dfree);
	assert_int_equal(init(0), 0);
	assert_int_equal(alloc(&dp, sizeof(x)), 0);
	assert_int_equal(htod(dp, x, sizeof(x)), 0);
	assert_int_equal(llminstr_capture("after", (void *)(uintptr_t)dp, LLMINSTR_F32, 1, &n, NULL),
			 1);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_READY);
	assert_string_equal(s->name, "after");
	assert_int_equal(s->flags, LLMI_SLOT_DEVICE);
	assert_memory_equal(d, x, sizeof(x));
	ft_detach(&T);
	assert_int_equal(dfree(dp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_handshake, teardown),
		cmocka_unit_test_teardown(test_wrong_proto, teardown),
		cmocka_unit_test_teardown(test_bad_hellos, teardown),
		cmocka_unit_test_teardown(test_bad_spec, teardown),
		cmocka_unit_test_teardown(test_second_tracer_busy, teardown),
		cmocka_unit_test_teardown(test_host_capture, teardown),
		cmocka_unit_test_teardown(test_selection, teardown),
		cmocka_unit_test_teardown(test_argument_refusals, teardown),
		cmocka_unit_test_teardown(test_unreadable_pointer, teardown),
		cmocka_unit_test_teardown(test_protected_pointer, teardown),
		cmocka_unit_test_teardown(test_tokens, teardown),
		cmocka_unit_test_teardown(test_on_full_drop, teardown),
		cmocka_unit_test_teardown(test_on_full_block, teardown),
		cmocka_unit_test_teardown(test_block_then_tracer_leaves, teardown),
		cmocka_unit_test_teardown(test_detach_and_reattach, teardown),
		cmocka_unit_test_teardown(test_hangup_then_drain, teardown),
		cmocka_unit_test_teardown(test_fork_child, teardown),
		cmocka_unit_test_teardown(test_cuda_loaded_later, teardown),
	};

	T.sock = T.memfd = T.efd = -1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
