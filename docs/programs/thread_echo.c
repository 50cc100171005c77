/* thread_echo.c: the blocking echo server with a thread per connection.
 *
 * The first fix for blocking_echo.c: accept() in one thread, and hand each
 * connection to a thread of its own, which may block in read() as long as
 * it likes.  Client B is now answered while client A stays silent.
 *
 * The price is a thread per connection: a stack (reserved, of which only
 * the pages touched are in memory), a kernel task, and a switch between
 * threads every time a different connection has something to say.  The
 * program opens CONNS silent connections and prints what they cost, read
 * from /proc/self/status: the threads, and the address space the stacks
 * reserve.  An event loop serves the same connections with one thread
 * (loop_echo.c).
 *
 * Exit 0 when B was answered and there was one thread per connection, 1
 * otherwise.  Build: cc -pthread thread_echo.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CONNS = 100 };

static void die(const char *what)
{
	fprintf(stderr, "thread_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, CONNS + 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("listen");
	*port = ntohs(sa.sin_port);
	return fd;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	return fd;
}

/* The connection threads still running, so that main can wait for them. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
static int live;

/* doc:begin thread-serve */
/* One connection: the loop of blocking_echo.c, in a thread of its own. */
static void *serve_one(void *arg)
{
	int c = (int)(long)arg;
	char buf[512];
	ssize_t n;

	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write(c, buf, (size_t)n) != n)
			break;
	close(c);
	pthread_mutex_lock(&lock);
	live--;
	pthread_cond_signal(&gone);
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* The acceptor: a thread per connection, until the listener is shut. */
static void *serve(void *arg)
{
	int listener = (int)(long)arg;
	int c;

	while ((c = accept(listener, NULL, NULL)) >= 0) {
		pthread_t t;

		pthread_mutex_lock(&lock);
		live++;
		pthread_mutex_unlock(&lock);
		if (pthread_create(&t, NULL, serve_one, (void *)(long)c) != 0)
			die("pthread_create");
		pthread_detach(t);
	}
	return NULL;
}
/* doc:end thread-serve */

/* A number from /proc/self/status ("Threads:", "VmSize:" in kB). */
static long status_field(const char *name)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, strlen(name)) == 0)
			v = atol(line + strlen(name));
	fclose(f);
	return v;
}

static int threads_now(void)
{
	return (int)status_field("Threads:");
}

int main(void)
{
	uint16_t port;
	pthread_t acceptor;
	pthread_attr_t attr;
	size_t stack;
	char buf[16] = { 0 };
	int fds[CONNS];
	long vm0, vm1;
	int listener, before, during, b;
	struct pollfd p;

	listener = listen_any(&port);
	pthread_create(&acceptor, NULL, serve, (void *)(long)listener);

	/* A silent, B talks: B is answered at once. */
	fds[0] = connect_to(port);
	b = connect_to(port);
	if (write(b, "hello", 5) != 5)
		die("write");
	p = (struct pollfd){ .fd = b, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1 || read(b, buf, sizeof(buf)) != 5) {
		printf("B was not answered while A was silent\n");
		return 1;
	}
	printf("B: \"%s\" at once, while A stays silent: A blocks only its own thread\n",
	       buf);
	close(b);

	/* The price: CONNS silent connections. */
	before = threads_now();
	vm0 = status_field("VmSize:");
	for (int i = 1; i < CONNS; i++)
		fds[i] = connect_to(port);
	/* Wait until every connection has its thread (the acceptor runs
	 * concurrently with us). */
	for (int tries = 0; tries < 500; tries++) {
		pthread_mutex_lock(&lock);
		during = live;
		pthread_mutex_unlock(&lock);
		if (during == CONNS)
			break;
		usleep(10000);
	}
	vm1 = status_field("VmSize:");
	pthread_attr_init(&attr);
	pthread_attr_getstacksize(&attr, &stack);
	pthread_attr_destroy(&attr);
	printf("%d silent connections: %d connection threads, %d threads in the process\n",
	       CONNS, during, threads_now());
	printf("each thread reserves a %zu KiB stack; the address space grew by %ld KiB\n",
	       stack / 1024, vm1 - vm0);

	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
	shutdown(listener, SHUT_RDWR);          /* ends the acceptor's accept() */
	pthread_join(acceptor, NULL);
	pthread_mutex_lock(&lock);
	while (live > 0)
		pthread_cond_wait(&gone, &lock);
	pthread_mutex_unlock(&lock);
	close(listener);
	if (during != CONNS || before < 1) {
		printf("expected %d connection threads, saw %d\n", CONNS, during);
		return 1;
	}
	return 0;
}
