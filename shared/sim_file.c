/* sim_file.c: in-memory files (the world is sim_impl.h).
 *
 * A file lives until reactor_free(); an open file is a handle in the table
 * that points at one.  Files are never shortened by faults: a regular file
 * read is short only at its end.  Every call is made on the loop thread
 * (offload runs jobs there under sim), so no lock is needed.
 */
#include "sim_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* An in-memory file. */
struct sim_file {
	struct sim_file *next;    /* sim.files, in creation order */
	char *path;
	unsigned char *data;
	size_t len;
};

struct sim_open_file {
	struct sim_obj obj;
	struct sim_file *file;
	int accmode;              /* O_RDONLY, O_WRONLY or O_RDWR */
};

static struct sim_file *file_find(const struct sim *s, const char *path)
{
	for (struct sim_file *f = s->files; f != NULL; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

static struct sim_file *file_new(struct sim *s, const char *path)
{
	struct sim_file *f = xcalloc(1, sizeof(*f));
	size_t n = strlen(path) + 1;

	f->path = xmalloc(n);
	memcpy(f->path, path, n);
	if (s->last_file != NULL)
		s->last_file->next = f;
	else
		s->files = f;
	s->last_file = f;
	return f;
}

/* Make f exactly len bytes long, zero-filling what grows. */
static int file_resize(struct sim_file *f, size_t len)
{
	if (len > f->len) {
		unsigned char *d = realloc(f->data, len);
		if (d == NULL)
			return -ENOMEM;
		memset(d + f->len, 0, len - f->len);
		f->data = d;
	}
	f->len = len;
	return 0;
}

static struct sim_open_file *table_file(const struct sim *s, int h)
{
	struct sim_obj *o = sim__table_get(s, h);

	return o != NULL && o->kind == SIM_FILE ? (struct sim_open_file *)o
						: NULL;
}

/* O_CREAT creates a missing file (else -ENOENT), O_EXCL with it refuses an
 * existing one (-EEXIST), O_TRUNC empties it; the access mode is enforced
 * by pread and pwrite (-EBADF). */
int sim__file_open(struct sim *s, const char *path, int flags)
{
	struct sim_file *f = file_find(s, path);
	struct sim_open_file *of;
	int h;

	if (f == NULL && !(flags & O_CREAT))
		return -ENOENT;
	if (f != NULL && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	h = sim__table_alloc(s); /* first, as open(2) does: no file on -EMFILE */
	if (h < 0)
		return h;
	if (f == NULL)
		f = file_new(s, path);
	if (flags & O_TRUNC)
		f->len = 0;
	of = xcalloc(1, sizeof(*of));
	of->obj.kind = SIM_FILE;
	of->file = f;
	of->accmode = flags & O_ACCMODE;
	sim__table_set(s, h, &of->obj);
	return h;
}

ssize_t sim__file_pread(struct sim *s, int handle, void *buf, size_t n,
			uint64_t offset)
{
	struct sim_open_file *of = table_file(s, handle);
	struct sim_file *f;
	size_t k;

	if (of == NULL || of->accmode == O_WRONLY)
		return -EBADF;
	f = of->file;
	if (offset >= f->len)
		return 0;
	k = min_size(n, f->len - (size_t)offset);
	memcpy(buf, f->data + offset, k);
	return (ssize_t)k;
}

ssize_t sim__file_pwrite(struct sim *s, int handle, const void *buf,
			 size_t n, uint64_t offset)
{
	struct sim_open_file *of = table_file(s, handle);
	struct sim_file *f;
	int err;

	if (of == NULL || of->accmode == O_RDONLY)
		return -EBADF;
	if (n == 0)
		return 0;
	f = of->file;
	if (offset > SIZE_MAX - n)
		return -EFBIG;
	if (offset + n > f->len) {
		err = file_resize(f, (size_t)offset + n);
		if (err < 0)
			return err;
	}
	memcpy(f->data + offset, buf, n);
	return (ssize_t)n;
}

int64_t sim__file_size(struct sim *s, int handle)
{
	struct sim_open_file *of = table_file(s, handle);

	return of != NULL ? (int64_t)of->file->len : -EBADF;
}

void sim__files_free(struct sim *s)
{
	while (s->files != NULL) {
		struct sim_file *f = s->files;
		s->files = f->next;
		free(f->path);
		free(f->data);
		free(f);
	}
}

/* ---- public: files the test world puts in place -------------------------- */

int sim_file_create(struct reactor *r, const char *path, const void *data,
		    size_t len)
{
	struct sim *s = sim__of(r);
	struct sim_file *f = file_find(s, path);
	int err;

	if (f == NULL)
		f = file_new(s, path);
	f->len = 0;
	err = file_resize(f, len);
	if (err < 0)
		return err;
	if (len > 0)
		memcpy(f->data, data, len);
	return 0;
}

const void *sim_file_contents(struct reactor *r, const char *path,
			      size_t *len)
{
	struct sim_file *f = file_find(sim__of(r), path);

	if (f == NULL)
		return NULL;
	*len = f->len;
	return f->data != NULL ? (const void *)f->data : (const void *)"";
}
