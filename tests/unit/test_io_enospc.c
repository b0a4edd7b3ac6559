// SPDX-License-Identifier: MIT
/*
 * Disk full: the writer on a 2 MiB tmpfs. Appends fail with ENOSPC from
 * some record on, the error is said once, close reports it, the file left
 * behind is a valid container holding every record that fit, and what the
 * writer's stats say is on disk is exactly what a reader finds there. The
 * same in thread mode (LLMI_WRITER_THREAD), where the failure reaches the
 * appenders from the writer thread. Needs to mount a tmpfs (root): skips
 * with 77 where it cannot.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/reader.h"
#include "io/writer.h"

static char dir[64];

static void run_full(unsigned flags, const char *name)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .flags = flags, .extent_size = 64 * 1024,
				      .nr_extents = 4, .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	char path[128], errpath[128], line[512];
	struct llmi_writer *w;
	struct llmi_reader *r;
	struct llmi_verify_report rep;
	struct llmi_writer_stats ws;
	static uint8_t blob[100000];
	int appended = 0, err = 0, saved, efd, said = 0;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(errpath, sizeof(errpath), "/tmp/llmi-enospc-%d.err", getpid());
	memset(blob, 0x5a, sizeof(blob));

	/* Capture stderr to count how often the error is said. */
	fflush(stderr);
	saved = dup(2);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && efd >= 0);
	dup2(efd, 2);
	close(efd);

	w = llmi_writer__new(path, &o);
	assert_non_null(w);
	for (int i = 0; i < 100 && !err; i++) {
		struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4 };

		err = llmi_writer__tensor(w, &t, "t", blob, sizeof(blob));
		if (!err)
			appended++;
	}
	/* Keep appending after the failure: still the same error, not said again. */
	for (int i = 0; i < 3; i++) {
		struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4 };

		assert_int_equal(llmi_writer__tensor(w, &t, "t", blob, sizeof(blob)), -ENOSPC);
	}
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(llmi_writer__tick(w, llmi_now_ns()), -ENOSPC);
	assert_int_equal(llmi_writer__close(w), -ENOSPC);
	llmi_writer__stats(w, &ws);
	llmi_writer__free(w);

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(errpath, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		fputs(line, stderr);
		if (strstr(line, "write failed"))
			said++;
	}
	fclose(f);
	unlink(errpath);
	assert_int_equal(said, 1);

	assert_int_equal(stat(path, &st), 0);
	r = llmi_reader__open(path, line, sizeof(line));
	assert_non_null(r);
	print_message("%s: %d records appended before ENOSPC, %zu readable, file %lld bytes\n",
		      name, appended, llmi_reader__nr_records(r), (long long)st.st_size);
	/* Everything readable is intact, and it is most of what was appended
	 * (the records still in the extent buffers when the disk filled are lost). */
	assert_true(llmi_reader__nr_records(r) > 0);
	assert_true(llmi_reader__nr_records(r) <= (size_t)appended);
	assert_true(llmi_reader__nr_records(r) + 8 >= (size_t)appended);
	/* the writer's count of what reached the disk is the reader's */
	assert_int_equal(ws.disk.records, llmi_reader__nr_records(r));
	assert_int_equal(ws.disk.tensors, llmi_reader__nr_records(r));
	assert_int_equal(ws.disk.bytes, st.st_size);	/* cut after the last whole record */
	for (size_t k = 0; k < llmi_reader__nr_records(r); k++) {
		size_t l;
		void *p = llmi_reader__load(r, k, &l);

		assert_non_null(p);
		free(p);
	}
	/* No index (there was no room for it), records intact: "incomplete", not "damaged". */
	assert_int_equal(llmi_reader__verify(r, &rep), -ENODATA);
	assert_false(llmi_reader__status(r)->tail_damaged);
	llmi_reader__free(r);
	unlink(path);
}

static void test_enospc_uring(void **state)
{
	run_full(0, "uring.llmi");
}

static void test_enospc_pwrite(void **state)
{
	run_full(LLMI_WRITER_NO_URING, "pwrite.llmi");
}

static void test_enospc_thread(void **state)
{
	run_full(LLMI_WRITER_THREAD, "thread.llmi");
}

static void test_enospc_thread_pwrite(void **state)
{
	run_full(LLMI_WRITER_THREAD | LLMI_WRITER_NO_URING, "thread-pwrite.llmi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enospc_uring),
		cmocka_unit_test(test_enospc_pwrite),
		cmocka_unit_test(test_enospc_thread),
		cmocka_unit_test(test_enospc_thread_pwrite),
	};
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/llmi-enospc-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("SKIP: cannot make a temporary directory: %s\n", strerror(errno));
		return 77;
	}
	if (mount("llmi-enospc", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m")) {
		printf("SKIP: cannot mount a 2 MiB tmpfs at %s (needs root): %s\n", dir, strerror(errno));
		rmdir(dir);
		return 77;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return ret;
}
