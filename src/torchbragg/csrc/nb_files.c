/* Safe file access (README "The C reference"):
 *
 * - inputs are opened with O_NONBLOCK and must be regular files, so a FIFO without a writer
 *   or a device (/dev/zero, /dev/urandom) is refused at once (exit 9) instead of blocking or
 *   reading without end;
 * - outputs are staged: each is written to a temporary made by mkstemp (O_CREAT|O_EXCL, so a
 *   planted symlink is never followed) in the target's folder, with a short name (".nbXXXXXX",
 *   so any legal output name works), and all of them are renamed into place together at the
 *   end (nb_stage_commit); a failure before that removes the temporaries, a failed rename puts
 *   the files already replaced back, so a failed run leaves every existing file as it was;
 * - a closed stdin/stdout/stderr is reopened on /dev/null (no output file can take its place),
 *   SIGPIPE and SIGXFSZ are ignored (a closed pipe on stdout does not stop the run, a file-size
 *   limit is an ordinary write error), SIGINT/SIGTERM remove the temporaries. */
#define _POSIX_C_SOURCE 200809L
#include "nb.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NB_MAX_STAGED 8
#define NB_TMP_LEN 4096

enum { ST_FREE = 0, ST_OPEN, ST_WRITTEN, ST_RENAMED };

typedef struct {
    const char *name;
    FILE *fp;
    int optional; /* the Fdump cache: a failure is a warning, it never undoes the images */
    int existed, has_bak;
    volatile sig_atomic_t state;
    char tmp[NB_TMP_LEN], bak[NB_TMP_LEN];
} staged;

static staged stage[NB_MAX_STAGED];
static int nstage;

/* ------------------------------------------------------------- inputs */
static const char *kind_of(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a plain file";
}

FILE *nb_open_input(const char *flag, const char *file)
{
    const char *sp = flag ? " " : "";
    struct stat st;
    FILE *fp;
    int fd = open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY), fl, e;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode))
            nb_fatal("ERROR: %s%s%s: is a folder", flag ? flag : "", sp, file);
        nb_fatal("ERROR: %s%s%s: %s, not a regular file (inputs must be regular files)",
                 flag ? flag : "", sp, file, kind_of(st.st_mode));
    }
    if ((double)st.st_size > nb_max_memory()) {
        close(fd);
        nb_fatal("ERROR: %s%s%s: %.3g bytes, more than the %.3g bytes of memory available (set "
                 "TORCHBRAGG_MAX_MEMORY to raise the limit)", flag ? flag : "", sp, file,
                 (double)st.st_size, nb_max_memory());
    }
    fl = fcntl(fd, F_GETFL);
    if (fl != -1)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    fp = fdopen(fd, "rb");
    if (fp == NULL) {
        e = errno;
        close(fd);
        errno = e;
    }
    return fp;
}

/* ------------------------------------------------------------- staged outputs */
static void remove_staged(void)
{
    int k;
    for (k = 0; k < nstage; k++) {
        if (stage[k].state == ST_OPEN || stage[k].state == ST_WRITTEN)
            unlink(stage[k].tmp);
        if (stage[k].has_bak)
            unlink(stage[k].bak);
        stage[k].state = ST_FREE;
        stage[k].has_bak = 0;
    }
}

static mode_t file_mode(void)
{
    mode_t m = umask(022);
    umask(m);
    return 0666 & ~m;
}

/* "DIR/.nbXXXXXX" for the folder of name (the current folder when name has no '/') */
static int tmp_template(const char *name, char *out)
{
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) + 1 : 0;
    if (n + 10 > NB_TMP_LEN) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out, name, n);
    strcpy(out + n, ".nbXXXXXX");
    return 0;
}

FILE *nb_stage_open(const char *name, int optional)
{
    static int registered;
    staged *s;
    int fd, e;
    if (!registered) {
        atexit(remove_staged); /* nb_fatal and every other exit remove the temporaries */
        registered = 1;
    }
    if (nstage >= NB_MAX_STAGED) {
        errno = EMFILE;
        return NULL;
    }
    s = &stage[nstage];
    memset(s, 0, sizeof(*s));
    if (tmp_template(name, s->tmp) != 0)
        return NULL;
    fd = mkstemp(s->tmp);
    if (fd < 0)
        return NULL;
    s->state = ST_OPEN;
    s->name = name;
    s->optional = optional;
    nstage++;
    if (fchmod(fd, file_mode()) != 0 || (s->fp = fdopen(fd, "wb")) == NULL) {
        e = errno;
        close(fd);
        unlink(s->tmp);
        s->state = ST_FREE;
        nstage--;
        errno = e;
        return NULL;
    }
    return s->fp;
}

int nb_stage_close(FILE *fp)
{
    int k, bad, e;
    for (k = nstage - 1; k >= 0; k--)
        if (stage[k].fp == fp && stage[k].state == ST_OPEN)
            break;
    if (k < 0)
        return fclose(fp);
    errno = 0;
    bad = ferror(fp);
    e = errno ? errno : EIO;
    if (fflush(fp) != 0) {
        bad = 1;
        e = errno;
    }
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    stage[k].fp = NULL;
    if (bad) {
        unlink(stage[k].tmp);
        stage[k].state = ST_FREE;
        errno = e;
        return -1;
    }
    stage[k].state = ST_WRITTEN;
    return 0;
}

/* a hard link to the file about to be replaced, so a later failure can put it back */
static void make_backup(staged *s)
{
    int tries, fd;
    struct stat st;
    s->existed = lstat(s->name, &st) == 0;
    s->has_bak = 0;
    if (!s->existed || tmp_template(s->name, s->bak) != 0)
        return;
    for (tries = 0; tries < 8; tries++) {
        fd = mkstemp(s->bak);
        if (fd < 0)
            return;
        close(fd);
        unlink(s->bak);
        if (link(s->name, s->bak) == 0) {
            s->has_bak = 1;
            return;
        }
        if (errno != EEXIST)
            return; /* no hard links here (or an immutable file): no way back for this one */
        tmp_template(s->name, s->bak);
    }
}

/* undo the renames of the required outputs before index upto, newest first */
static void roll_back(int upto)
{
    int k;
    for (k = upto - 1; k >= 0; k--) {
        staged *s = &stage[k];
        if (s->optional || s->state != ST_RENAMED)
            continue;
        if (s->has_bak) {
            if (rename(s->bak, s->name) == 0)
                s->has_bak = 0;
        } else if (!s->existed) {
            unlink(s->name);
        }
    }
}

static int commit_one(staged *s)
{
    make_backup(s);
    if (rename(s->tmp, s->name) != 0)
        return -1;
    s->state = ST_RENAMED;
    return 0;
}

void nb_stage_commit(void)
{
    sigset_t block, old;
    int k, e;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (k = 0; k < nstage; k++) {
        staged *s = &stage[k];
        if (s->optional || s->state != ST_WRITTEN)
            continue;
        if (commit_one(s) != 0) {
            e = errno;
            roll_back(k);
            remove_staged();
            fflush(stdout);
            fprintf(stderr, "ERROR: cannot write %s: %s (no output was changed)\n", s->name,
                    strerror(e));
            exit(NB_EXIT_OUTPUT);
        }
    }
    for (k = 0; k < nstage; k++) {
        staged *s = &stage[k];
        if (s->optional && s->state == ST_WRITTEN && commit_one(s) != 0)
            printf("WARNING: unable to open dump file: %s\n", s->name);
    }
    remove_staged();
    nstage = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------- signals and standard streams */
static void on_signal(int sig)
{
    static const char msg_int[] = "nanoBragg: interrupted\n";
    static const char msg_term[] = "nanoBragg: terminated\n";
    ssize_t rc;
    int k;
    for (k = 0; k < nstage; k++)
        if (stage[k].state == ST_OPEN || stage[k].state == ST_WRITTEN)
            unlink(stage[k].tmp);
    if (sig == SIGTERM)
        rc = write(2, msg_term, sizeof(msg_term) - 1);
    else
        rc = write(2, msg_int, sizeof(msg_int) - 1);
    (void)rc;
    _exit(128 + sig);
}

void nb_install_signals(void)
{
    int fd;
    for (fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
            break;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
}
