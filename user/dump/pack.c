// SPDX-License-Identifier: MIT
/*
 * llminstr-dump pack: a raw array (as users already have from their own
 * dumps) in, a one-tensor container out, through the same codec and writer
 * as a live capture. Everything about the input is checked before any
 * output is created: the dtype, the shape, the codec spec and its bound,
 * and that the file holds exactly prod(shape) * dtype size bytes.
 *
 * The input is never read whole. A reader thread reads it in pieces of
 * whole codec chunks into a small ring of buffers, reused, while the codec
 * codes the piece before (llmi_codec__stream_*: the same blob as a
 * whole-tensor encode, byte for byte). Reading a large file into one
 * buffer cost a page fault per 4 KiB before coding could start; the ring
 * stays in cache, and on a cold file the disk works while the codec does.
 * An nmse bound or chanmean needs the tensor's variance or channel means
 * before the step is known: then the input is read twice (statistics, then
 * coding), the second time usually from the page cache. Only the coded
 * blob is held whole (the container record needs its length and checksum
 * before its payload), in memory mapped as it is written, with huge pages
 * where the kernel gives them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/parse.h"
#include "dump/dump.h"
#include "io/outfile.h"
#include "io/writer.h"

#define NBUF		3		/* pieces in flight: one coded, the next ones read */
#define MAX_THREADS	16
#define HUGE_PAGE	(2u << 20)

static const char pack_help[] =
"Usage: llminstr-dump pack --dtype f32|bf16|f16 --shape AxB[xC...] --codec SPEC\n"
"                          IN.raw -o OUT.llmi [--name NAME] [--step N] [--layer N]\n"
"                          [--threads N] [--force]\n"
"Compresses a raw little-endian C-order array into a one-tensor container.\n"
"  -d, --dtype     f32, bf16 or f16\n"
"  -s, --shape     dimensions, e.g. 512x4096 (at most 8, each >= 1); the input\n"
"                  must hold exactly their product times the dtype size in bytes\n"
"  -c, --codec     lossless | quant:nmse=X | quant:mse=X | quant:abs=X, X > 0\n"
"                  (optional ,chanmean suffix for 2-D [tokens x hidden])\n"
"  -o, --output    the container; an existing file is refused unless --force,\n"
"                  a symbolic link, directory or device always\n"
"  -f, --force     replace an existing OUT.llmi\n"
"  -n, --name      tensor name (default: the input's file name)\n"
"  -j, --threads N coding threads (default: the CPUs online, at most 16)\n"
"      --step N, --layer N   stored with the tensor\n"
"The input is read in pieces while they are coded (twice for an nmse bound or\n"
"chanmean: statistics first); memory holds a few MiB of it and the coded blob.\n"
"Exit 2 on bad usage (a size that does not match --shape and --dtype too), 3\n"
"when IN.raw cannot be read or OUT.llmi written (then it is removed).\n"
"EXAMPLE:\n"
"  llminstr-dump pack --dtype bf16 --shape 512x4096 --codec quant:nmse=1e-3 \\\n"
"      acts.raw -o acts.llmi\n";

static int parse_shape(const char *s, struct llmi_tensor_desc *d)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf) || !*s)
		return -EINVAL;
	strcpy(buf, s);
	d->ndim = 0;
	for (tok = strtok_r(buf, "x", &save); tok; tok = strtok_r(NULL, "x", &save)) {
		uint64_t v;

		if (d->ndim == LLMI_MAX_DIMS || llmi_parse_u64(tok, &v) || v == 0)
			return -EINVAL;
		d->shape[d->ndim++] = v;
	}
	/* "4xx8" and "4x" leave empty fields that strtok would skip. */
	if (!d->ndim || strstr(s, "xx") || s[0] == 'x' || s[strlen(s) - 1] == 'x')
		return -EINVAL;
	return 0;
}

/*
 * The input, read in pieces by a thread of its own: a ring of NBUF
 * buffers that the reader fills in file order and the coder empties in the
 * same order. One pass reads the file once from its start.
 */
struct feeder {
	int fd;
	const char *path;
	uint64_t size;
	size_t piece;			/* bytes, a multiple of LLMI_CODEC_CHUNK */
	uint8_t *buf[NBUF];
	size_t len[NBUF];
	unsigned head, count;		/* oldest filled buffer, buffers filled */
	uint64_t off;			/* next offset the reader reads */
	int err;			/* the reader's first error (-errno), then it stops */
	bool stop;			/* the coder gave up: the reader stops */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
};

static void *feeder_main(void *arg)
{
	struct feeder *fd = arg;
	unsigned slot = 0;

	for (;;) {
		size_t want, got = 0;
		uint8_t *b;

		pthread_mutex_lock(&fd->mu);
		while (fd->count == NBUF && !fd->stop)
			pthread_cond_wait(&fd->cv, &fd->mu);
		if (fd->stop || fd->off >= fd->size) {
			pthread_mutex_unlock(&fd->mu);
			return NULL;
		}
		slot = (fd->head + fd->count) % NBUF;
		b = fd->buf[slot];
		pthread_mutex_unlock(&fd->mu);
		/* Only this thread touches a slot between the two locks. */
		want = fd->size - fd->off < fd->piece ? fd->size - fd->off : fd->piece;
		while (got < want) {
			ssize_t n = pread(fd->fd, b + got, want - got, fd->off + got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pthread_mutex_lock(&fd->mu);
				fd->err = n ? -errno : -ENODATA;
				pthread_cond_broadcast(&fd->cv);
				pthread_mutex_unlock(&fd->mu);
				return NULL;
			}
			got += n;
		}
		pthread_mutex_lock(&fd->mu);
		fd->len[slot] = want;
		fd->off += want;
		fd->count++;
		pthread_cond_broadcast(&fd->cv);
		pthread_mutex_unlock(&fd->mu);
	}
}

/* The next piece in file order; NULL at the end of the pass or on an error (fd->err). */
static const uint8_t *feeder_get(struct feeder *fd, size_t *len)
{
	const uint8_t *b = NULL;

	pthread_mutex_lock(&fd->mu);
	while (!fd->count && !fd->err && fd->off < fd->size)
		pthread_cond_wait(&fd->cv, &fd->mu);
	if (fd->count) {
		b = fd->buf[fd->head];
		*len = fd->len[fd->head];
	}
	pthread_mutex_unlock(&fd->mu);
	return b;
}

static void feeder_put(struct feeder *fd)
{
	pthread_mutex_lock(&fd->mu);
	fd->head = (fd->head + 1) % NBUF;
	fd->count--;
	pthread_cond_broadcast(&fd->cv);
	pthread_mutex_unlock(&fd->mu);
}

/* Ends a pass: stops the reader (early when the coder failed) and waits for it. */
static void feeder_join(struct feeder *fd)
{
	pthread_mutex_lock(&fd->mu);
	fd->stop = true;
	pthread_cond_broadcast(&fd->cv);
	pthread_mutex_unlock(&fd->mu);
	pthread_join(fd->tid, NULL);
}

static int feeder_start(struct feeder *fd)
{
	fd->head = fd->count = 0;
	fd->off = 0;
	fd->err = 0;
	fd->stop = false;
	return -pthread_create(&fd->tid, NULL, feeder_main, fd);
}

/*
 * Memory for the coded blob: reserved, not committed (pages come as the
 * blob is written), 2 MiB aligned and advised to use huge pages, so that
 * writing it costs few page faults.
 */
static uint8_t *blob_map(size_t cap, void **map, size_t *map_len)
{
	uintptr_t p;

	*map_len = cap + HUGE_PAGE;
	*map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (*map == MAP_FAILED) {
		*map = NULL;
		return NULL;
	}
	p = ((uintptr_t)*map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	(void)madvise((void *)p, cap, MADV_HUGEPAGE);	/* best effort */
	return (uint8_t *)p;
}

struct pack {
	const char *in, *out;
	struct feeder fd;
	struct llmi_codec *codec;
	uint8_t *blob;			/* head, then the coded chunks */
	size_t cap, head, used;		/* blob capacity; head length; bytes after it */
};

/* One pass over the input; 0 or an exit code (said). */
static int pack_pass(struct pack *pk, int pass)
{
	const uint8_t *b;
	size_t len, out;
	int err = feeder_start(&pk->fd);

	if (err)
		return dump_err(EXIT_CANNOT, "cannot start a reader thread: %s", strerror(-err));
	if (pass == LLMI_STREAM_ENCODE)
		pk->head = llmi_codec__stream_head_len(pk->codec);
	while ((b = feeder_get(&pk->fd, &len))) {
		uint8_t *dst = pk->blob + pk->head + pk->used;

		err = llmi_codec__stream_feed(pk->codec, b, len, dst, pk->cap - pk->head - pk->used, &out);
		feeder_put(&pk->fd);
		if (err)
			break;
		pk->used += out;
	}
	feeder_join(&pk->fd);
	if (pk->fd.err)
		return dump_err(EXIT_CANNOT, "%s: read failed: %s", pk->in,
				pk->fd.err == -ENODATA ? "the file shrank while it was read" :
				strerror(-pk->fd.err));
	if (err)
		return dump_err(EXIT_CANNOT, "%s: encoding failed: %s", pk->in, strerror(-err));
	return 0;
}

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dtype", required_argument, NULL, 'd' },
		{ "shape", required_argument, NULL, 's' },
		{ "codec", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "step", required_argument, NULL, 'S' },
		{ "layer", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *dtype_s = NULL, *shape_s = NULL, *codec_s = NULL, *name = NULL;
	const char *step_s = NULL, *layer_s = NULL, *threads_s = NULL;
	struct llmi_writer_opts wo = { .sz = sizeof(wo), .writer = "llminstr-dump pack",
				       .flags = LLMI_WRITER_QUIET,
				       .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct pack pk = { .fd = { .fd = -1 } };
	struct llmi_tensor_desc desc = { 0 };
	struct llmi_codec_spec spec;
	struct llmi_codec_stats cs;
	struct llmi_tensor_rec tr;
	struct llmi_writer *w = NULL;
	enum llmi_dtype dt;
	uint64_t numel, step = 0, layer = 0, threads = 0;
	size_t esz, blob_len = 0, map_len = 0;
	void *map = NULL;
	char base[4096], spec_txt[64];
	struct stat st;
	bool force = false;
	int c, err, pass, ret = EXIT_CANNOT;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:s:c:o:n:j:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dtype_s = optarg; break;
		case 's': shape_s = optarg; break;
		case 'c': codec_s = optarg; break;
		case 'o': pk.out = optarg; break;
		case 'n': name = optarg; break;
		case 'j': threads_s = optarg; break;
		case 'f': force = true; break;
		case 'S': step_s = optarg; break;
		case 'L': layer_s = optarg; break;
		case 'h': fputs(pack_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "pack: unknown or incomplete option '%s' (try --help)",
					argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !dtype_s || !shape_s || !codec_s || !pk.out)
		return dump_err(EXIT_USAGE,
				"pack: needs --dtype, --shape, --codec, IN.raw and -o OUT.llmi (try --help)");
	pk.in = argv[optind];
	if (llmi_dtype_parse(dtype_s, &dt))
		return dump_err(EXIT_USAGE, "pack: --dtype '%s' is not one of f32, bf16, f16", dtype_s);
	desc.dtype = dt;
	esz = llmi_dtype_size(dt);
	if (parse_shape(shape_s, &desc))
		return dump_err(EXIT_USAGE,
				"pack: --shape '%s' is not AxB[xC...] with 1 to 8 whole numbers >= 1", shape_s);
	numel = llmi_tensor_numel(&desc);
	if (!numel || numel > UINT64_MAX / esz || numel * esz > SIZE_MAX / 2)
		return dump_err(EXIT_USAGE, "pack: --shape '%s' is too large", shape_s);
	if (llmi_codec_spec_parse(codec_s, &spec))
		return dump_err(EXIT_USAGE,
				"pack: --codec '%s' is not lossless or quant:nmse|mse|abs=X with X > 0 and finite",
				codec_s);
	if (spec.flags & LLMI_CODEC_PREDICT)
		return dump_err(EXIT_USAGE, "pack: --codec ',predict' needs a reference tensor; a single raw file has none");
	if ((step_s && llmi_parse_u64(step_s, &step)) ||
	    (layer_s && (llmi_parse_u64(layer_s, &layer) || layer > INT32_MAX)))
		return dump_err(EXIT_USAGE, "pack: --step and --layer take whole numbers >= 0");
	if (threads_s && (llmi_parse_u64(threads_s, &threads) || threads < 1 || threads > MAX_THREADS))
		return dump_err(EXIT_USAGE, "pack: --threads takes a whole number from 1 to %d", MAX_THREADS);
	if (!threads) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		threads = ncpu > 0 ? (ncpu > MAX_THREADS ? MAX_THREADS : ncpu) : 1;
	}
	if (!name) {
		snprintf(base, sizeof(base), "%s", pk.in);
		name = basename(base);
	}
	if (strlen(name) > LLMI_NAME_MAX)
		return dump_err(EXIT_USAGE, "pack: --name is longer than %u bytes", LLMI_NAME_MAX);

	/* The input: readable, a regular file, exactly the size asked for. */
	pk.fd.fd = open(pk.in, O_RDONLY | O_CLOEXEC);
	if (pk.fd.fd < 0)
		return dump_err(EXIT_CANNOT, "%s: cannot open: %s", pk.in, strerror(errno));
	if (fstat(pk.fd.fd, &st) || !S_ISREG(st.st_mode)) {
		ret = dump_err(EXIT_CANNOT, "%s: not a regular file", pk.in);
		goto out;
	}
	if ((uint64_t)st.st_size != numel * esz) {
		ret = dump_err(EXIT_USAGE, "%s: %lld bytes, but --shape %s --dtype %s needs %llu; check both",
			       pk.in, (long long)st.st_size, shape_s, dtype_s,
			       (unsigned long long)(numel * esz));
		goto out;
	}
	pk.fd.path = pk.in;
	pk.fd.size = numel * esz;
	(void)posix_fadvise(pk.fd.fd, 0, 0, POSIX_FADV_SEQUENTIAL);	/* longer readahead */
	pthread_mutex_init(&pk.fd.mu, NULL);
	pthread_cond_init(&pk.fd.cv, NULL);

	/* Then the output: a name in the way is said before any work. */
	if (force)
		wo.flags |= LLMI_WRITER_OVERWRITE;
	llmi_sudo_owner(&wo.owner_uid, &wo.owner_gid);
	w = llmi_writer__new(pk.out, &wo);
	if (!w) {
		char why[PATH_MAX + 128];

		ret = dump_err(EXIT_CANNOT, "%s", llmi_out_strerror(why, sizeof(why), pk.out, errno,
								 force ? LLMI_OUT_FORCE : 0));
		goto out_nofile;
	}

	/* A piece is one chunk per coding thread, so that each has one. */
	pk.fd.piece = (size_t)LLMI_CODEC_CHUNK * threads;
	for (int k = 0; k < NBUF; k++) {
		pk.fd.buf[k] = malloc(pk.fd.piece);
		if (!pk.fd.buf[k]) {
			ret = dump_err(EXIT_CANNOT, "cannot allocate %zu bytes for reading", pk.fd.piece);
			goto out;
		}
	}
	pk.cap = llmi_codec_bound(numel * esz);
	pk.blob = blob_map(pk.cap, &map, &map_len);
	if (!pk.blob) {
		ret = dump_err(EXIT_CANNOT, "cannot reserve %zu bytes for the encoded tensor: %s", pk.cap,
			       strerror(errno));
		goto out;
	}
	pk.codec = llmi_codec__new((unsigned)threads);
	if (!pk.codec) {
		ret = dump_err(EXIT_CANNOT, "cannot create a codec context: %s", strerror(errno));
		goto out;
	}
	err = llmi_codec__stream_begin(pk.codec, &spec, &desc);
	if (err) {
		ret = dump_err(EXIT_CANNOT, "%s: cannot encode: %s", pk.in, strerror(-err));
		goto out;
	}
	while ((pass = llmi_codec__stream_next(pk.codec)) > 0) {
		ret = pack_pass(&pk, pass);
		if (ret)
			goto out;
	}
	ret = EXIT_CANNOT;
	err = pass ? pass : llmi_codec__stream_end(pk.codec, pk.blob, pk.head, &blob_len, &cs);
	if (err) {
		dump_err(EXIT_CANNOT, "%s: encoding failed: %s", pk.in, strerror(-err));
		goto out;
	}
	llmi_tensor_rec_init(&tr, &desc, &spec, &cs);
	tr.step = step;
	tr.layer = layer_s ? (int32_t)layer : -1;
	tr.tid = gettid();
	tr.capture_ns = llmi_now_ns();
	err = llmi_writer__tensor(w, &tr, name, pk.blob, blob_len);
	if (!err)
		err = llmi_writer__close(w);
	if (err) {
		dump_err(EXIT_CANNOT, "%s: writing failed: %s", pk.out, strerror(-err));
		goto out;
	}
	llmi_codec_spec_format(&spec, spec_txt, sizeof(spec_txt));
	printf("packed %s -> %s: %s %s, %s, %llu -> %zu bytes (%.2fx), mse %.3g nmse %.3g max err %.3g\n",
	       pk.in, pk.out, shape_s, llmi_dtype_name(dt), spec_txt,
	       (unsigned long long)(numel * esz), blob_len, dump_ratio(numel * esz, blob_len),
	       cs.mse, cs.nmse, cs.max_abs_err);
	ret = 0;
out:
	llmi_writer__free(w);
	/* A failed pack leaves no container behind (it created it). */
	if (ret && w)
		unlink(pk.out);
out_nofile:
	llmi_codec__free(pk.codec);
	if (map)
		munmap(map, map_len);
	for (int k = 0; k < NBUF; k++)
		free(pk.fd.buf[k]);
	if (pk.fd.size) {
		pthread_mutex_destroy(&pk.fd.mu);
		pthread_cond_destroy(&pk.fd.cv);
	}
	close(pk.fd.fd);
	return ret;
}
