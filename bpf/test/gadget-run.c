// SPDX-License-Identifier: Apache-2.0
/*
 * Test loader for gadget objects, independent of the daemon: open OBJ, set globals (.rodata,
 * .data, .bss) before load, optionally reuse pinned maps, load, attach every program, and write
 * ring-buffer records to stdout as [u32 length][record] (decode with bpf/test/decode.mjs). Prints "ready" on stderr once attached
 * and the lost-record count on exit (SIGINT/SIGTERM or -d seconds).
 *
 *   gadget-run [-s var=num|str]... [-p prefix]... [-r map=pinpath]... [-P pindir] [-d secs] [-c] OBJ
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t len)
{
	unsigned int l = len;

	(void)ctx;
	fwrite(&l, sizeof(l), 1, stdout);
	fwrite(data, len, 1, stdout);
	return 0;
}

/* The internal map of a global data section (libbpf names it "<obj name><sec>"). */
static struct bpf_map *section_map(struct bpf_object *obj, const char *sec)
{
	struct bpf_map *map;
	size_t n, sl = strlen(sec);

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);

		n = strlen(name);
		if (bpf_map__is_internal(map) && n >= sl && !strcmp(name + n - sl, sec))
			return map;
	}
	return NULL;
}

static const char *const var_secs[] = { ".rodata", ".data", ".bss" };

/* Finds a global variable (const volatile in .rodata, or mutable in .data/.bss): its section,
 * offset and size. */
static int find_var(struct bpf_object *obj, const char *name, const char **secp, __u32 *off, __u32 *size)
{
	struct btf *btf = bpf_object__btf(obj);

	for (size_t s = 0; s < sizeof(var_secs) / sizeof(*var_secs); s++) {
		int id = btf__find_by_name_kind(btf, var_secs[s], BTF_KIND_DATASEC);
		const struct btf_type *sec;
		const struct btf_var_secinfo *v;

		if (id < 0)
			continue;
		sec = btf__type_by_id(btf, id);
		v = btf_var_secinfos(sec);
		for (int i = 0; i < btf_vlen(sec); i++, v++) {
			const struct btf_type *var = btf__type_by_id(btf, v->type);

			if (!strcmp(btf__name_by_offset(btf, var->name_off), name)) {
				*secp = var_secs[s];
				*off = v->offset;
				*size = v->size;
				return 0;
			}
		}
	}
	return -ENOENT;
}

static void set_var(struct bpf_object *obj, const char *name, const void *val, __u32 len, __u32 at)
{
	struct bpf_map *m;
	const char *sec;
	__u32 off, size;
	size_t msize;
	const void *cur;
	char *data;

	if (find_var(obj, name, &sec, &off, &size) || !(m = section_map(obj, sec))) {
		fprintf(stderr, "no global variable %s\n", name);
		exit(1);
	}
	if (at + len > size) {
		fprintf(stderr, "value too large for %s\n", name);
		exit(1);
	}
	cur = bpf_map__initial_value(m, &msize);
	data = malloc(msize);
	memcpy(data, cur, msize);
	memcpy(data + off + at, val, len);
	bpf_map__set_initial_value(m, data, msize);
	free(data);
}

static void set_assign(struct bpf_object *obj, const char *arg)
{
	char name[128];
	const char *eq = strchr(arg, '=');
	const char *sec;
	__u32 off, size;
	char *end;

	if (!eq || eq - arg >= (long)sizeof(name)) {
		fprintf(stderr, "bad -s %s\n", arg);
		exit(1);
	}
	memcpy(name, arg, eq - arg);
	name[eq - arg] = 0;
	if (find_var(obj, name, &sec, &off, &size)) {
		fprintf(stderr, "no global variable %s\n", name);
		exit(1);
	}
	unsigned long long v = strtoull(eq + 1, &end, 0);
	if (*end || eq[1] == 0 || size > 8) { /* a string into a char array */
		set_var(obj, name, eq + 1, strlen(eq + 1) + 1, 0);
		return;
	}
	set_var(obj, name, &v, size, 0); /* little endian */
}

int main(int argc, char **argv)
{
	const char *sets[32], *prefixes[8], *reuse[16], *pindir = NULL;
	int nsets = 0, nprefixes = 0, nreuse = 0, secs = 0, opt, err;
	struct ring_buffer *rb = NULL;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;

	/* -c: drain every 10 ms like the daemon's reader, instead of sleeping in epoll */
	int batch = 0;

	while ((opt = getopt(argc, argv, "s:p:r:P:d:c")) != -1) {
		switch (opt) {
		case 's':
			if (nsets < 32)
				sets[nsets++] = optarg;
			break;
		case 'p':
			if (nprefixes < 8)
				prefixes[nprefixes++] = optarg;
			break;
		case 'r':
			if (nreuse < 16)
				reuse[nreuse++] = optarg;
			break;
		case 'P':
			pindir = optarg;
			break;
		case 'd':
			secs = atoi(optarg);
			break;
		case 'c':
			batch = 1;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: gadget-run [-s var=val] [-p prefix] [-r map=pin] [-P dir] [-d s] OBJ\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[optind], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	for (int i = 0; i < nsets; i++)
		set_assign(obj, sets[i]);
	for (int i = 0; i < nprefixes; i++)
		set_var(obj, "prefixes", prefixes[i], strlen(prefixes[i]) + 1, i * 64);
	if (nprefixes) {
		__u32 n = nprefixes;

		set_var(obj, "prefix_count", &n, sizeof(n), 0);
	}
	for (int i = 0; i < nreuse; i++) {
		char name[128];
		const char *eq = strchr(reuse[i], '=');
		int fd;

		if (!eq || eq - reuse[i] >= (long)sizeof(name))
			return 2;
		memcpy(name, reuse[i], eq - reuse[i]);
		name[eq - reuse[i]] = 0;
		fd = bpf_obj_get(eq + 1);
		map = bpf_object__find_map_by_name(obj, name);
		if (fd < 0 || !map || bpf_map__reuse_fd(map, fd)) {
			fprintf(stderr, "reuse %s failed\n", reuse[i]);
			return 1;
		}
	}
	/* GADGET_LOG=level: print the verifier log of every program (4: stats only). */
	static char logbuf[64 << 20];
	const char *loglevel = getenv("GADGET_LOG");
	if (loglevel) {
		bpf_object__for_each_program(prog, obj) {
			bpf_program__set_log_level(prog, atoi(loglevel));
			bpf_program__set_log_buf(prog, logbuf, sizeof(logbuf));
		}
	}
	err = bpf_object__load(obj);
	if (loglevel)
		fprintf(stderr, "%s\n", logbuf);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	if (pindir) {
		bpf_object__for_each_map(map, obj) {
			char path[512];

			if (bpf_map__is_internal(map))
				continue;
			snprintf(path, sizeof(path), "%s/%s", pindir, bpf_map__name(map));
			if (bpf_map__pin(map, path)) {
				fprintf(stderr, "pin %s failed\n", path);
				return 1;
			}
		}
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
	}
	map = bpf_object__find_map_by_name(obj, "events");
	if (map) {
		rb = ring_buffer__new(bpf_map__fd(map), on_record, NULL, NULL);
		if (!rb)
			return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "ready\n");
	time_t end = secs ? time(NULL) + secs : 0;
	while (!stop && (!end || time(NULL) < end)) {
		if (rb && batch) {
			usleep(10000);
			ring_buffer__consume(rb);
		} else if (rb) {
			ring_buffer__poll(rb, 100);
		}
		else
			usleep(100000);
	}
	if (rb)
		ring_buffer__consume(rb);
	fflush(stdout);
	map = bpf_object__find_map_by_name(obj, "gadget_lost");
	if (map) {
		int ncpu = libbpf_num_possible_cpus();
		__u64 vals[ncpu], total = 0;
		__u32 zero = 0;

		if (!bpf_map_lookup_elem(bpf_map__fd(map), &zero, vals))
			for (int i = 0; i < ncpu; i++)
				total += vals[i];
		fprintf(stderr, "lost %llu\n", (unsigned long long)total);
	}
	if (pindir) {
		bpf_object__for_each_map(map, obj) {
			if (!bpf_map__is_internal(map))
				bpf_map__unpin(map, NULL);
		}
	}
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
