/* attest11 cert (usage: attest11.c's table of commands).
 * TLS servers read their certificate from a file, while the certificate
 * attest11 releases lives in the host's lease (src/attester/state.c) and
 * changes when the broker issues a new one. This command copies it to FILE
 * as PEM, only when it differs (so the hook, typically a server reload,
 * runs only for a real change), and with --watch keeps doing so. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../attester/state.h"
#include "../common/file.h"
#include "../common/log.h"
#include "../p11/config.h"
#include "cert.h"

extern char **environ;

#define DEFAULT_INTERVAL 60
#define MAX_INTERVAL 86400
/* A chain of PROTO_MAX_CERTS certificates of PROTO_CERT_MAX bytes as PEM
 * is below this; a bigger FILE is simply "different". */
#define PEM_MAX (PROTO_MAX_CERTS * PROTO_CERT_MAX * 2)

struct cert_opts {
	const char *token, *out, *hook, *conf;
	bool chain, watch;
	long interval;
};

struct cert_ctx {
	struct cert_opts o;
	const char *conf_path;
	char state_dir[4096];
	char credential[PROTO_NAME_MAX + 1];
	char lease_file[PROTO_NAME_MAX + 8];   /* what inotify reports */
};

enum sync_result { SYNC_UNCHANGED, SYNC_WROTE, SYNC_HOOK_FAILED, SYNC_NONE, SYNC_FAIL };

static int parse_interval(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > MAX_INTERVAL)
		return -1;
	*out = v;
	return 0;
}

static int parse(int argc, char **argv, struct cert_opts *o)
{
	static const struct option opts[] = {
		{ "token", required_argument, NULL, 't' }, { "out", required_argument, NULL, 'o' },
		{ "chain", no_argument, NULL, 'c' }, { "on-change", required_argument, NULL, 'x' },
		{ "watch", no_argument, NULL, 'w' }, { "interval", required_argument, NULL, 'i' },
		{ "conf", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->interval = DEFAULT_INTERVAL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': o->token = optarg; break;
		case 'o': o->out = optarg; break;
		case 'c': o->chain = true; break;
		case 'x': o->hook = optarg; break;
		case 'w': o->watch = true; break;
		case 'i':
			if (parse_interval(optarg, &o->interval) != 0) {
				fprintf(stderr, "attest11 cert: --interval wants 1 to %d seconds\n",
					MAX_INTERVAL);
				return -1;
			}
			break;
		case 'C': o->conf = optarg; break;
		default: return -1;
		}
	}
	return optind == argc && o->token != NULL && o->out != NULL && *o->out != '\0' ? 0 : -1;
}

/* The token's credential and the state directory, from attest11.conf. */
static int resolve(struct cert_ctx *c)
{
	struct p11_config *conf = calloc(1, sizeof(*conf));
	int rc = 1;

	c->conf_path = c->o.conf != NULL ? c->o.conf : config_path(NULL);
	if (conf == NULL || config_load(c->conf_path, conf) != CKR_OK) {
		fprintf(stderr, "attest11 cert: cannot use the configuration %s\n", c->conf_path);
		goto out;
	}
	for (size_t i = 0; i < conf->n_tokens && rc != 0; i++)
		if (strcmp(conf->tokens[i].label, c->o.token) == 0) {
			snprintf(c->credential, sizeof(c->credential), "%s",
				 conf->tokens[i].credential);
			rc = 0;
		}
	if (rc != 0) {
		fprintf(stderr, "attest11 cert: no token labelled %s in %s\n", c->o.token,
			c->conf_path);
	} else if (conf->state_dir[0] == '\0') {
		fprintf(stderr, "attest11 cert: %s sets no state_dir, so no lease is kept\n",
			c->conf_path);
		rc = 1;
	} else {
		snprintf(c->state_dir, sizeof(c->state_dir), "%s", conf->state_dir);
		snprintf(c->lease_file, sizeof(c->lease_file), "%s.lease", c->credential);
	}
out:
	free(conf);
	return rc;
}

/* ---- the certificate file ------------------------------------------------- */

/* The leaf (or the chain, leaf first) as PEM into a malloc'd buffer. */
static int lease_pem(const struct release *rel, bool chain, char **pem, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	size_t n = chain ? rel->cert_count : 1;
	char *data;
	long got;
	int ok = b != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		const uint8_t *p = rel->certs[i];
		X509 *x = d2i_X509(NULL, &p, (long)rel->cert_len[i]);

		ok = x != NULL && p == rel->certs[i] + rel->cert_len[i] && PEM_write_bio_X509(b, x);
		X509_free(x);
	}
	got = ok ? BIO_get_mem_data(b, &data) : 0;
	if (ok && got > 0 && (*pem = malloc((size_t)got)) != NULL) {
		memcpy(*pem, data, (size_t)got);
		*len = (size_t)got;
	} else {
		ok = 0;
	}
	BIO_free(b);
	return ok ? 0 : -1;
}

static bool same_content(const char *path, const char *pem, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *buf = len < PEM_MAX ? malloc(len + 1) : NULL;
	size_t n = 0;
	ssize_t got = 1;
	bool same;

	while (fd >= 0 && buf != NULL && n <= len && got != 0) {
		got = read(fd, buf + n, len + 1 - n);
		if (got < 0 && errno != EINTR)
			break;
		n += got > 0 ? (size_t)got : 0;
	}
	/* Anything unreadable counts as different: rewriting it is the fix. */
	same = fd >= 0 && buf != NULL && got == 0 && n == len && memcmp(buf, pem, len) == 0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return same;
}

static void split_path(const char *path, char *dir, size_t cap, const char **base)
{
	const char *slash = strrchr(path, '/');

	*base = slash != NULL ? slash + 1 : path;
	if (slash == NULL)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0)
		log_warn("cannot sync directory %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* A temporary file beside path, renamed over it: the server reading the
 * file on reload sees the old certificate or the new one, never a mix. */
static int write_atomic(const char *path, const char *pem, size_t len)
{
	char dir[PATH_MAX], tmp[PATH_MAX + NAME_MAX + 16];
	const char *base;
	int fd, ok;

	split_path(path, dir, sizeof(dir), &base);
	if (strlen(path) >= PATH_MAX || *base == '\0' ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base) >= (int)sizeof(tmp)) {
		fprintf(stderr, "attest11 cert: unusable output path %s\n", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "attest11 cert: cannot create a file in %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	/* Certificates are public; the server may run as another user. */
	ok = fchmod(fd, 0644) == 0 && file_write_all(fd, pem, len) == A11_OK && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
	if (!ok) {
		fprintf(stderr, "attest11 cert: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	sync_dir(dir);
	return 0;
}

/* ---- the hook ------------------------------------------------------------------ */

/* The child gets default signal handling and nothing blocked: --watch
 * blocks SIGTERM/SIGINT for its signalfd, and a blocked mask is inherited. */
static int spawn_hook(const char *cmd, pid_t *pid)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGPIPE);
	if ((rc = posix_spawnattr_init(&attr)) != 0)
		return rc;
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (rc == 0)
		rc = posix_spawn(pid, "/bin/sh", NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	return rc;
}

static int run_hook(const char *cmd)
{
	pid_t pid;
	int status, rc = spawn_hook(cmd, &pid);

	if (rc != 0) {
		fprintf(stderr, "attest11 cert: cannot run --on-change: %s\n", strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "attest11 cert: waiting for --on-change: %s\n",
				strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		fprintf(stderr, "attest11 cert: --on-change command exited with status %d\n",
			WEXITSTATUS(status));
	else
		fprintf(stderr, "attest11 cert: --on-change command killed by signal %d\n",
			WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

/* ---- one pass ------------------------------------------------------------------ */

/* SYNC_UNCHANGED here means "*pem holds the certificate(s)". */
static enum sync_result load_pem(const struct cert_ctx *c, char **pem, size_t *len,
				 size_t *count)
{
	struct host_lease l;
	a11_err r = state_load(c->state_dir, c->credential, &l);
	enum sync_result res = SYNC_FAIL;

	if (r == A11_ERR_NOT_FOUND)
		return SYNC_NONE;
	if (r != A11_OK) {
		fprintf(stderr, "attest11 cert: cannot read the lease of %s in %s: %s\n",
			c->credential, c->state_dir, a11_strerror(r));
		return SYNC_FAIL;
	}
	if (l.rel.cert_count == 0) {
		res = SYNC_NONE;
	} else if (lease_pem(&l.rel, c->o.chain, pem, len) == 0) {
		*count = c->o.chain ? l.rel.cert_count : 1;
		res = SYNC_UNCHANGED;
	} else {
		fprintf(stderr, "attest11 cert: the lease of %s holds a certificate that does "
			"not parse\n", c->credential);
	}
	host_lease_clear(&l);
	return res;
}

static enum sync_result sync_once(const struct cert_ctx *c)
{
	char *pem = NULL;
	size_t len = 0, count = 0;
	enum sync_result res = load_pem(c, &pem, &len, &count);

	if (res != SYNC_UNCHANGED || same_content(c->o.out, pem, len))
		goto out;
	res = SYNC_FAIL;
	if (write_atomic(c->o.out, pem, len) != 0)
		goto out;
	printf("attest11 cert: wrote %s (%zu certificate%s of token %s)\n", c->o.out, count,
	       count == 1 ? "" : "s", c->o.token);
	res = c->o.hook == NULL || run_hook(c->o.hook) == 0 ? SYNC_WROTE : SYNC_HOOK_FAILED;
out:
	free(pem);
	return res;
}

static void say_none(const struct cert_ctx *c)
{
	fprintf(stderr, "attest11 cert: no certificate for token %s yet: no release has reached "
		"this host (log in once)\n", c->o.token);
}

/* ---- --watch ------------------------------------------------------------------- */

struct watch {
	int sfd, ifd, wd;
};

/* The state directory may not exist before the first login: then only the
 * interval re-checks, and the watch is tried again each time. */
static void add_watch(const struct cert_ctx *c, struct watch *w)
{
	if (w->wd >= 0)
		return;
	w->wd = inotify_add_watch(w->ifd, c->state_dir, IN_CLOSE_WRITE | IN_MOVED_TO);
	if (w->wd < 0)
		log_debug("cannot watch %s (%s): re-checking every %ld s", c->state_dir,
			  strerror(errno), c->o.interval);
}

/* true if an event concerns the lease (or events were lost). */
static bool read_events(const struct cert_ctx *c, struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(w->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED))
				hit = true;
			if (e->mask & IN_IGNORED) /* the directory went away */
				w->wd = -1;
			if (e->len > 0 && strcmp(e->name, c->lease_file) == 0)
				hit = true;
			p += sizeof(*e) + e->len;
		}
	}
	return hit;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

enum wake { WAKE_CHECK, WAKE_STOP, WAKE_ERROR };

/* Until the lease changes or the interval ends, or a signal comes. */
static enum wake wait_change(const struct cert_ctx *c, struct watch *w)
{
	long deadline = now_ms() + c->o.interval * 1000, left;

	while ((left = deadline - now_ms()) > 0) {
		struct pollfd p[2] = { { w->sfd, POLLIN, 0 }, { w->ifd, POLLIN, 0 } };
		int n = poll(p, 2, (int)left);

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "attest11 cert: poll: %s\n", strerror(errno));
			return WAKE_ERROR;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(w->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				log_info("signal %u: stopping", si.ssi_signo);
			return WAKE_STOP;
		}
		if (n > 0 && (p[1].revents & POLLIN) && read_events(c, w))
			return WAKE_CHECK;
	}
	return WAKE_CHECK;
}

static int watch_loop(const struct cert_ctx *c)
{
	struct watch w = { -1, -1, -1 };
	enum sync_result res, last = SYNC_WROTE;
	enum wake wake;
	sigset_t set;
	int rc = 1;

	/* Signals arrive as reads on sfd: nothing runs in a signal handler. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (w.sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0 ||
	    (w.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0) {
		fprintf(stderr, "attest11 cert: cannot watch: %s\n", strerror(errno));
		goto out;
	}
	do {
		/* Watch before reading, so a lease saved in between is an event. */
		add_watch(c, &w);
		res = sync_once(c);
		if (res == SYNC_NONE && last != SYNC_NONE)
			say_none(c);
		last = res;
	} while ((wake = wait_change(c, &w)) == WAKE_CHECK);
	rc = wake == WAKE_STOP ? 0 : 1;
out:
	if (w.ifd >= 0)
		close(w.ifd);
	if (w.sfd >= 0)
		close(w.sfd);
	return rc;
}

int cert_main(int argc, char **argv)
{
	struct cert_ctx c = { 0 };
	enum sync_result res;

	/* One line per event even when stdout is a pipe or the journal. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse(argc, argv, &c.o) != 0)
		return 2;
	if (resolve(&c) != 0)
		return 1;
	if (c.o.watch)
		return watch_loop(&c);
	res = sync_once(&c);
	if (res == SYNC_NONE)
		say_none(&c);
	return res == SYNC_WROTE || res == SYNC_UNCHANGED ? 0 : 1;
}
