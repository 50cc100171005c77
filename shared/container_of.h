/* container_of.h: from a pointer to a member back to the struct holding it.
 *
 * Both engines embed what the substrate hands back (a reactor_io, a timer,
 * an offload job) inside their own structs, and recover the struct from the
 * member in the callback: no allocation and no lookup, the idiom of the
 * Linux kernel and of libuv.  The member must really be inside a `type`:
 * nothing checks it.
 */
#ifndef PUSHPOLL_CONTAINER_OF_H
#define PUSHPOLL_CONTAINER_OF_H

#include <stddef.h>

/* The struct of type `type` whose member `member` is at ptr. */
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif
