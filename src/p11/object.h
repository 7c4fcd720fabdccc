/* Objects of a logged-in token, built from what the broker released:
 * private key (a handle to the TPM key; no secret attribute is readable),
 * public key, certificate chain, bearer-token data object. */
#ifndef A11_P11_OBJECT_H
#define A11_P11_OBJECT_H

#include "p11.h"

/* Build t's objects from t->cred into *objs (handles assigned later). */
CK_RV object_build(struct p11_token *t, struct p11_object ***objs, size_t *n);
void object_free(struct p11_object *o);
/* Give each object a fresh handle and attach them to t (mod.lock held). */
void object_attach_inlock(struct p11_token *t, struct p11_object **objs, size_t n);
void object_detach_inlock(struct p11_token *t);

/* Whether o is visible in session s (private objects need login). */
bool object_visible_inlock(const struct p11_session *s, const struct p11_object *o);
bool object_matches(const struct p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* C_GetAttributeValue semantics for one object (PKCS#11 §5.7). */
CK_RV object_get_attrs(const struct p11_object *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
CK_ULONG object_size(const struct p11_object *o);

#endif
