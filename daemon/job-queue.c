/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "job-queue.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

struct JobQueue {
        sd_event_source *source;
        int efd;
        GAsyncQueue *jobs;      /* QueuedJob*: main -> worker */
        GAsyncQueue *results;   /* QueuedJob*: worker -> main */
        void (*wake)(void *data);
        void *wake_data;
};

/* Tells the worker to exit: never freed, never run. */
static QueuedJob quit_job;

static void queued_job_free(QueuedJob *j) {
        if (!j || j == &quit_job)
                return;
        if (j->free_job && j->job)
                j->free_job(j->job);
        g_free(j);
}

static void drain(GAsyncQueue *q) {
        QueuedJob *j;

        while ((j = g_async_queue_try_pop(q)))
                queued_job_free(j);
}

static int on_results(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        JobQueue *q = userdata;
        uint64_t n;
        QueuedJob *j;

        if (read(q->efd, &n, sizeof n) < 0 && errno != EAGAIN)
                log_warning_errno(errno, "Failed to read worker eventfd: %m");

        while ((j = g_async_queue_try_pop(q->results))) {
                /* DONE owns the job from here on. */
                j->done(TAKE_PTR(j->job), j->userdata);
                queued_job_free(j);
        }
        return 0;
}

int job_queue_new(sd_event *event, const char *name, JobQueue **ret) {
        g_autofree JobQueue *q = g_new0(JobQueue, 1);
        int r;

        q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->efd < 0)
                return log_error_errno(errno, "Failed to create eventfd: %m");
        r = sd_event_add_io(event, &q->source, q->efd, EPOLLIN, on_results, q);
        if (r < 0) {
                close(q->efd);
                return log_error_errno(r, "Failed to watch the worker eventfd: %m");
        }
        (void) sd_event_source_set_description(q->source, name);
        q->jobs = g_async_queue_new();
        q->results = g_async_queue_new();
        *ret = g_steal_pointer(&q);
        return 0;
}

void job_queue_stop_delivery(JobQueue *q) {
        q->source = sd_event_source_disable_unref(q->source);
}

void job_queue_free(JobQueue *q) {
        if (!q)
                return;
        job_queue_stop_delivery(q);
        drain(q->jobs);
        drain(q->results);
        g_async_queue_unref(q->jobs);
        g_async_queue_unref(q->results);
        close(q->efd);
        g_free(q);
}

static QueuedJob *queued_job_new(void *job, JobRunFunc run, JobDone done, GDestroyNotify free_job,
                                 void *userdata) {
        QueuedJob *j = g_new0(QueuedJob, 1);

        *j = (QueuedJob) { job, run, done, free_job, userdata };
        return j;
}

void job_queue_set_wake(JobQueue *q, void (*wake)(void *data), void *data) {
        q->wake = wake;
        q->wake_data = data;
}

void job_queue_submit(JobQueue *q, void *job, JobRunFunc run, JobDone done, GDestroyNotify free_job,
                      void *userdata) {
        g_async_queue_push(q->jobs, queued_job_new(job, run, done, free_job, userdata));
        if (q->wake)
                q->wake(q->wake_data);
}

void job_queue_quit(JobQueue *q) {
        /* Jobs not yet started are dropped; the thread sees the quit job next. */
        drain(q->jobs);
        g_async_queue_push_front(q->jobs, &quit_job);
        if (q->wake)
                q->wake(q->wake_data);
}

QueuedJob *job_queue_pop(JobQueue *q) {
        QueuedJob *j = g_async_queue_pop(q->jobs);

        return j == &quit_job ? NULL : j;
}

bool job_queue_try_pop(JobQueue *q, QueuedJob **ret) {
        QueuedJob *j = g_async_queue_try_pop(q->jobs);

        *ret = j == &quit_job ? NULL : j;
        return j != &quit_job;
}

static void wake_main(JobQueue *q) {
        uint64_t one = 1;

        if (write(q->efd, &one, sizeof one) < 0)
                log_warning_errno(errno, "Failed to wake the main loop: %m");
}

void job_queue_finish(JobQueue *q, QueuedJob *j) {
        g_async_queue_push(q->results, j);
        wake_main(q);
}

void job_queue_post(JobQueue *q, void *job, JobDone done, GDestroyNotify free_job, void *userdata) {
        job_queue_finish(q, queued_job_new(job, NULL, done, free_job, userdata));
}
