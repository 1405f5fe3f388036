/*
 * The terminal under top's live view: raw keys, the alternate screen, the
 * window's size, and the signals that must give the terminal back.  What
 * is drawn is top.c's; how the terminal is held is this file's.
 *
 * Anything that ends the program -- SIGINT, SIGTERM, SIGHUP, or the caller
 * calling term_leave() -- puts the terminal back as it was; ^Z does too,
 * and the terminal is taken again (with a redraw asked for) on SIGCONT.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "forkpool.h"

/* Escape sequences: alternate screen on and cursor hidden, and back. */
#define TERM_ENTER	"\033[?1049h\033[?25l"
#define TERM_LEAVE	"\033[?25h\033[?1049l"

/*
 * The terminal as it was, for the signal handlers: they restore it with
 * write() and tcsetattr(), both async-signal-safe.
 */
static struct termios		 term_saved;
static volatile sig_atomic_t	 term_raw;	/* term_saved must come back */
static volatile sig_atomic_t	 term_alt;	/* on the alternate screen */
static volatile sig_atomic_t	 term_redraw;	/* SIGWINCH or back from ^Z */

/* Write all of buf to fd; async-signal-safe. */
void
term_write(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Remember the terminal's settings, to be given back; 1 when keys can be
 * read from standard input, else 0.
 */
int
term_init(int keys)
{
	if (keys && tcgetattr(STDIN_FILENO, &term_saved) == -1)
		return (0);
	return (keys);
}

/* Give the terminal back as it was; async-signal-safe. */
void
term_leave(void)
{
	int	saved_errno = errno;

	if (term_alt) {
		term_write(STDOUT_FILENO, TERM_LEAVE, strlen(TERM_LEAVE));
		term_alt = 0;
	}
	if (term_raw) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &term_saved);
		term_raw = 0;
	}
	errno = saved_errno;
}

/*
 * Take the terminal: keys one at a time without echo (signals still come
 * from ^C and ^Z), the alternate screen, no cursor.  Async-signal-safe,
 * for the return from ^Z.
 */
void
term_enter(int keys)
{
	struct termios	raw;
	int		saved_errno = errno;

	if (keys && !term_raw) {
		raw = term_saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0)
			term_raw = 1;
	}
	if (!term_alt) {
		term_write(STDOUT_FILENO, TERM_ENTER, strlen(TERM_ENTER));
		term_alt = 1;
	}
	errno = saved_errno;
}

/* SIGINT, SIGTERM, SIGHUP: restore the terminal, then die of the signal. */
static void
term_fatal_sig(int sig)
{
	term_leave();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * ^Z: restore the terminal and stop; the handler runs on when SIGCONT
 * comes, takes the terminal again and asks for a redraw.  SA_RESETHAND
 * made the stop the default action, SA_NODEFER lets it happen here.
 */
static void
term_stop_sig(int sig)
{
	struct sigaction	sa;
	int			keys = term_raw;

	term_leave();
	raise(sig);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_stop_sig;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, NULL);
	term_enter(keys);
	term_redraw = 1;
}

static void
term_winch_sig(int sig)
{
	(void)sig;
	term_redraw = 1;
}

/* Handlers for the live view; SIGWINCH stays blocked but in ppoll(). */
void
term_signals(sigset_t *waitmask)
{
	struct sigaction	sa;
	sigset_t		block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = term_fatal_sig;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = term_winch_sig;
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = term_stop_sig;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigaction(SIGTSTP, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGWINCH);
}

/* Ask for a redraw at the next chance (^L). */
void
term_want_redraw(void)
{
	term_redraw = 1;
}

/* 1 once after the window changed or the view came back from ^Z. */
int
term_take_redraw(void)
{
	if (!term_redraw)
		return (0);
	term_redraw = 0;
	return (1);
}

/* The window's rows and columns; 24 x 80 when the terminal will not say. */
void
term_size(size_t *rows, size_t *cols)
{
	struct winsize	ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

/*
 * Wait up to secs seconds for keys (only for a signal when keys is 0) and
 * read what came into buf: the number of keys, 0 when the time ran out or
 * a signal came, -1 when the terminal is gone.
 */
ssize_t
term_read_keys(int keys, double secs, const sigset_t *waitmask, char *buf,
    size_t size)
{
	struct pollfd	pfd;
	struct timespec	ts;
	ssize_t		n;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	pfd.fd = keys ? STDIN_FILENO : -1;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (ppoll(&pfd, 1, &ts, waitmask) <= 0 || pfd.revents == 0)
		return (0);
	if ((n = read(STDIN_FILENO, buf, size)) <= 0) {
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			return (0);
		return (-1);
	}
	return (n);
}
