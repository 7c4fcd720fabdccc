/* Mutexes: pthreads unless the application handed C_Initialize its own
 * callbacks without CKF_OS_LOCKING_OK, in which case PKCS#11 §5.4 says to
 * use those. */
#include <pthread.h>
#include <stdlib.h>

#include "mutex.h"

static CK_C_INITIALIZE_ARGS app; /* app.CreateMutex != NULL: use app's */

void p11_mutex_use(const CK_C_INITIALIZE_ARGS *args)
{
	if (args != NULL && args->CreateMutex != NULL && !(args->flags & CKF_OS_LOCKING_OK))
		app = *args;
	else
		app.CreateMutex = NULL;
}

void p11_mutex_init(struct p11_mutex *mx)
{
	pthread_mutex_t *m;

	mx->m = NULL;
	if (app.CreateMutex != NULL) {
		if (app.CreateMutex(&mx->m) != CKR_OK)
			mx->m = NULL;
		return;
	}
	if ((m = malloc(sizeof(*m))) != NULL && pthread_mutex_init(m, NULL) == 0)
		mx->m = m;
	else
		free(m);
}

void p11_mutex_destroy(struct p11_mutex *mx)
{
	if (mx->m == NULL)
		return;
	if (app.CreateMutex != NULL) {
		app.DestroyMutex(mx->m);
	} else {
		pthread_mutex_destroy(mx->m);
		free(mx->m);
	}
	mx->m = NULL;
}

/* A mutex that failed to initialize is a no-op: C_Initialize refuses to
 * finish in that case, so this only matters during teardown. */
void p11_mutex_lock(struct p11_mutex *mx)
{
	if (mx->m == NULL)
		return;
	if (app.CreateMutex != NULL)
		app.LockMutex(mx->m);
	else
		pthread_mutex_lock(mx->m);
}

void p11_mutex_unlock(struct p11_mutex *mx)
{
	if (mx->m == NULL)
		return;
	if (app.CreateMutex != NULL)
		app.UnlockMutex(mx->m);
	else
		pthread_mutex_unlock(mx->m);
}

/* After fork() the child must not touch mutexes a parent thread may have
 * held: forget them; C_Initialize makes new ones. */
void p11_mutex_forget(struct p11_mutex *mx)
{
	mx->m = NULL;
}
