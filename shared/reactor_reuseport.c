/* reactor_reuseport.c: a listener that shares its port with others, for
 * servers that run one loop per thread (push.h and poll.h, "workers").
 *
 * Every listener bound with SO_REUSEPORT to the same address and port
 * gets its own accept queue, and the kernel hashes each new connection to
 * one of them: connections are spread over the loops with no acceptor in
 * between and nothing shared between the threads.  Epoll backend only:
 * its handles are descriptors, so the listener is one like any other.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor.h"

int reactor_listen_reuseport(struct reactor *r, const char *host,
			     uint16_t port, int backlog)
{
	struct sockaddr_in sa;
	int fd, err, one = 1;

	if (reactor_is_sim(r))
		return -ENOTSUP;
	err = reactor_resolve(host, port, &sa);
	if (err < 0)
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
