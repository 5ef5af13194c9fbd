#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"
#include "xmalloc.h"

static char *const spawn_default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL=C", "LANG=C", NULL};

static long long
spawn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn))
spawn_child(struct spawn *sp, int in, int out, int err, int report)
{
	int e;

	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
	    dup2(sp->merge_stderr ? out : err, STDERR_FILENO) == -1)
		goto fail;
	if (sp->cwd != NULL && chdir(sp->cwd) == -1)
		goto fail;
	execvpe(sp->argv[0], sp->argv,
	    sp->envp != NULL ? sp->envp : spawn_default_env);
fail:
	e = errno;
	(void)!write(report, &e, sizeof e);
	_exit(127);
}

int
spawn_run(struct spawn *sp, char **cause)
{
	int inpipe[2] = {-1, -1}, outpipe[2] = {-1, -1};
	int errpipe[2] = {-1, -1}, rep[2] = {-1, -1};
	struct pollfd pfd[3];
	size_t written = 0, max;
	long long deadline = 0, left;
	int status, e, rc = -1, killed = 0;
	ssize_t n;
	pid_t pid;
	char tmp[8192];

	buf_init(&sp->out);
	buf_init(&sp->err);
	sp->status = -1;
	sp->timed_out = 0;
	max = sp->max_output != 0 ? sp->max_output : 1024 * 1024;

	if (pipe2(inpipe, O_CLOEXEC) == -1 || pipe2(outpipe, O_CLOEXEC) == -1 ||
	    pipe2(errpipe, O_CLOEXEC) == -1 || pipe2(rep, O_CLOEXEC) == -1) {
		*cause = xasprintf("cannot create pipes: %s", strerror(errno));
		goto out;
	}

	if ((pid = fork()) == -1) {
		*cause = xasprintf("cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		spawn_child(sp, inpipe[0], outpipe[1], errpipe[1], rep[1]);

	close(inpipe[0]);
	close(outpipe[1]);
	close(errpipe[1]);
	close(rep[1]);
	inpipe[0] = outpipe[1] = errpipe[1] = rep[1] = -1;

	/* The exec either closes rep (success) or writes errno to it. */
	n = read(rep[0], &e, sizeof e);
	if (n == (ssize_t)sizeof e) {
		waitpid(pid, NULL, 0);
		*cause =
		    xasprintf("cannot run '%s': %s", sp->argv[0], strerror(e));
		goto out;
	}

	if (sp->inputlen == 0) {
		close(inpipe[1]);
		inpipe[1] = -1;
	} else
		fcntl(inpipe[1], F_SETFL, O_NONBLOCK);
	if (sp->timeout_ms > 0)
		deadline = spawn_now_ms() + sp->timeout_ms;

	while (outpipe[0] != -1 || errpipe[0] != -1 || inpipe[1] != -1) {
		pfd[0].fd = outpipe[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = errpipe[0];
		pfd[1].events = POLLIN;
		pfd[2].fd = inpipe[1];
		pfd[2].events = POLLOUT;
		left = -1;
		if (deadline != 0) {
			left = deadline - spawn_now_ms();
			if (left <= 0) {
				/* SIGTERM first; SIGKILL if it lingers. */
				sp->timed_out = 1;
				kill(-pid, killed ? SIGKILL : SIGTERM);
				deadline = spawn_now_ms() + 2000;
				killed = 1;
				continue;
			}
		}
		if (poll(pfd, 3, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			n = write(inpipe[1], (const char *)sp->input + written,
			    sp->inputlen - written);
			if (n > 0)
				written += (size_t)n;
			if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
			    written == sp->inputlen) {
				close(inpipe[1]);
				inpipe[1] = -1;
			}
		}
		for (int i = 0; i < 2; i++) {
			int *fdp = i == 0 ? &outpipe[0] : &errpipe[0];
			struct buf *b = i == 0 ? &sp->out : &sp->err;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fdp, tmp, sizeof tmp);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(*fdp);
				*fdp = -1;
				continue;
			}
			if (b->len < max)
				buf_add(b, tmp,
				    (size_t)n > max - b->len ? max - b->len
							     : (size_t)n);
		}
	}

	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			*cause = xasprintf("cannot wait for '%s': %s",
			    sp->argv[0], strerror(errno));
			goto out;
		}
	}
	if (WIFEXITED(status))
		sp->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		sp->status = 128 + WTERMSIG(status);
	rc = 0;

out:
	for (int i = 0; i < 2; i++) {
		if (inpipe[i] != -1)
			close(inpipe[i]);
		if (outpipe[i] != -1)
			close(outpipe[i]);
		if (errpipe[i] != -1)
			close(errpipe[i]);
		if (rep[i] != -1)
			close(rep[i]);
	}
	return rc;
}

void
spawn_free(struct spawn *sp)
{
	buf_free(&sp->out);
	buf_free(&sp->err);
}

char *
spawn_describe(const struct spawn *sp)
{
	struct buf cmd = BUF_INIT, last = BUF_INIT;
	const struct buf *src;
	const char *p, *end;
	char *s;
	int i;

	buf_init(&cmd);
	for (i = 0; sp->argv[i] != NULL && i < 4; i++)
		buf_printf(&cmd, "%s%s", i ? " " : "", sp->argv[i]);
	if (sp->argv[i] != NULL)
		buf_adds(&cmd, " ...");

	/* The last non-empty line of stderr (or stdout) says the most. */
	buf_init(&last);
	src = sp->err.len != 0 ? &sp->err : &sp->out;
	if (src->len != 0) {
		end = src->data + src->len;
		while (end > src->data && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		p = end;
		while (p > src->data && p[-1] != '\n')
			p--;
		buf_add_escaped(&last, p, (size_t)(end - p));
	}

	if (sp->timed_out)
		s = xasprintf("'%s' did not finish in time", cmd.data);
	else if (sp->status > 128)
		s = xasprintf("'%s' was killed by signal %d%s%s", cmd.data,
		    sp->status - 128, last.len ? ": " : "", last.data);
	else
		s = xasprintf("'%s' exited with status %d%s%s", cmd.data,
		    sp->status, last.len ? ": " : "", last.data);
	buf_free(&cmd);
	buf_free(&last);
	return s;
}
