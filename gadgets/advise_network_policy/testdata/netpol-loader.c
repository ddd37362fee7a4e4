// SPDX-License-Identifier: Apache-2.0
/*
 * Test-only stand-in for the daemon's loader while its libbpf wrapper cannot attach cgroup
 * programs: loads build/gadgets/advise_network_policy.bpf.o, sets globals, fills map entries,
 * attaches the tracing programs and the cgroup sock_addr programs (bpf_link on a cgroup v2
 * directory, so they go away with this process), and writes every ring-buffer record to stdout
 * framed like the daemon's batches: u32 length (LE), payload, zero padding to 8 bytes.
 *
 *   netpol-loader OBJ [-c CGROUP2_DIR] [-g NAME=HEX]... [-m MAP=KEYHEX:VALUEHEX]... [-i MS]
 *
 * It prints "ready\n" on stderr once everything is attached, and exits on SIGTERM/SIGINT, on
 * EOF of stdin, or when its parent dies. Build: cc -O2 -o netpol-loader netpol-loader.c -lbpf
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex into a malloc'd buffer; *n = length. */
static unsigned char *unhex(const char *s, size_t *n)
{
	size_t len = strlen(s);
	unsigned char *out;

	if (len % 2)
		return NULL;
	out = calloc(1, len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return out;
}

/* Sets a global in .rodata/.data/.bss through the object's BTF (before load). */
static int set_global(struct bpf_object *obj, const char *name, const unsigned char *val, size_t n)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;

	if (!btf)
		return -ENOENT;
	bpf_object__for_each_map(map, obj) {
		const char *mn = bpf_map__name(map);
		const char *sec = strchr(mn, '.');
		size_t size;
		void *data;
		int id;
		const struct btf_type *t;
		const struct btf_var_secinfo *vs;

		if (!bpf_map__is_internal(map) || !sec)
			continue;
		id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
		if (id < 0)
			continue;
		t = btf__type_by_id(btf, id);
		vs = btf_var_secinfos(t);
		for (int i = 0; i < btf_vlen(t); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
				continue;
			if (vs->size != n) {
				fprintf(stderr, "global %s: %zu bytes given, has %u\n", name, n, vs->size);
				return -EINVAL;
			}
			data = (void *)bpf_map__initial_value(map, &size);
			if (!data || vs->offset + n > size)
				return -EINVAL;
			memcpy((char *)data + vs->offset, val, n);
			return 0;
		}
	}
	return -ENOENT;
}

static int on_record(void *ctx, void *data, size_t len)
{
	static const unsigned char zeros[8];
	unsigned int l = (unsigned int)len;
	size_t pad = (8 - ((4 + len) & 7)) & 7;

	(void)ctx;
	if (fwrite(&l, 4, 1, stdout) != 1 || fwrite(data, 1, len, stdout) != len ||
	    (pad && fwrite(zeros, 1, pad, stdout) != pad))
		stop = 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *cgroup = "/sys/fs/cgroup/unified";
	const char *globals[64], *entries[256];
	int nglobals = 0, nentries = 0, interval = 10, opt, cg_fd, err;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct ring_buffer *rb;
	struct bpf_link *links[64];
	int nlinks = 0;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	while ((opt = getopt(argc, argv, "c:g:m:i:")) != -1) {
		switch (opt) {
		case 'c':
			cgroup = optarg;
			break;
		case 'g':
			if (nglobals < 64)
				globals[nglobals++] = optarg;
			break;
		case 'm':
			if (nentries < 256)
				entries[nentries++] = optarg;
			break;
		case 'i':
			interval = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s OBJ [-c CGROUP2_DIR] [-g NAME=HEX] [-m MAP=K:V] [-i MS]\n", argv[0]);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "missing object path\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[optind], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	for (int i = 0; i < nglobals; i++) {
		char *eq = strchr(globals[i], '=');
		unsigned char *v;
		size_t n;

		if (!eq || !(v = unhex(eq + 1, &n))) {
			fprintf(stderr, "bad -g %s\n", globals[i]);
			return 2;
		}
		*eq = '\0';
		err = set_global(obj, globals[i], v, n);
		if (err) {
			fprintf(stderr, "set global %s: %s\n", globals[i], strerror(-err));
			return 1;
		}
		free(v);
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	for (int i = 0; i < nentries; i++) {
		char *eq = strchr(entries[i], '='), *colon;
		unsigned char *k, *v;
		size_t kn, vn;
		int fd;

		if (!eq || !(colon = strchr(eq, ':'))) {
			fprintf(stderr, "bad -m %s\n", entries[i]);
			return 2;
		}
		*eq = '\0';
		*colon = '\0';
		fd = bpf_object__find_map_fd_by_name(obj, entries[i]);
		k = unhex(eq + 1, &kn);
		v = unhex(colon + 1, &vn);
		if (fd < 0 || !k || !v || bpf_map_update_elem(fd, k, v, BPF_ANY)) {
			fprintf(stderr, "map %s update: %s\n", entries[i], strerror(errno));
			return 1;
		}
		free(k);
		free(v);
	}
	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY);
	if (cg_fd < 0) {
		fprintf(stderr, "open %s: %s\n", cgroup, strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		struct bpf_link *l;

		if (!bpf_program__autoload(prog))
			continue;
		if (strncmp(sec, "cgroup/", 7) == 0)
			l = bpf_program__attach_cgroup(prog, cg_fd);
		else
			l = bpf_program__attach(prog);
		if (!l) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		if (nlinks < 64)
			links[nlinks++] = l;
	}
	close(cg_fd);
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring buffer: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, on_signal);
	fprintf(stderr, "ready\n");
	while (!stop) {
		struct pollfd p = { .fd = 0, .events = POLLIN };

		ring_buffer__consume(rb);
		fflush(stdout);
		/* stdin closed: the parent is done */
		if (poll(&p, 1, interval) > 0 && (p.revents & (POLLIN | POLLHUP))) {
			char c;
			if (read(0, &c, 1) <= 0)
				break;
		}
	}
	ring_buffer__consume(rb);
	/* what the runtime's drain hook would read: every flow entry, for counts not reported yet.
	 * Marker frame: u32 0xffffffff, u32 key size, u32 value size, u32 n, then n (key, value). */
	{
		struct bpf_map *flows = bpf_object__find_map_by_name(obj, "flows");
		int fd = bpf_map__fd(flows);
		unsigned int ks = bpf_map__key_size(flows), vs = bpf_map__value_size(flows);
		unsigned int hdr[4] = { 0xffffffffu, ks, vs, 0 };
		unsigned char *keys = calloc(65536, ks), *vals = calloc(65536, vs);
		unsigned char cur[256], next[256];
		int have = 0;

		while (hdr[3] < 65536 && ks <= sizeof(cur) &&
		       bpf_map_get_next_key(fd, have ? cur : NULL, next) == 0) {
			memcpy(cur, next, ks);
			have = 1;
			if (bpf_map_lookup_elem(fd, cur, vals + hdr[3] * vs) == 0) {
				memcpy(keys + hdr[3] * ks, cur, ks);
				hdr[3]++;
			}
		}
		fwrite(hdr, 4, 4, stdout);
		for (unsigned int i = 0; i < hdr[3]; i++) {
			fwrite(keys + i * ks, 1, ks, stdout);
			fwrite(vals + i * vs, 1, vs, stdout);
		}
		free(keys);
		free(vals);
	}
	fflush(stdout);
	for (int i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
