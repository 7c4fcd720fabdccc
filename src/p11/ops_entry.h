/* The implementations behind the PKCS#11 entry points (src/p11/entry.c). */
#ifndef A11_P11_API_H
#define A11_P11_API_H

#include "p11.h"

CK_RV p11_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count);
CK_RV p11_get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info);
CK_RV p11_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info);
CK_RV p11_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
CK_RV p11_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);
CK_RV p11_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out);
CK_RV p11_close_session(CK_SESSION_HANDLE h);
CK_RV p11_close_all_sessions(CK_SLOT_ID slot);
CK_RV p11_get_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info);
CK_RV p11_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len);
CK_RV p11_logout(CK_SESSION_HANDLE h);
CK_RV p11_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
CK_RV p11_find(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count);
CK_RV p11_find_final(CK_SESSION_HANDLE h);
CK_RV p11_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl,
			      CK_ULONG n);
CK_RV p11_get_object_size(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size);
CK_RV p11_op_init(CK_SESSION_HANDLE h, enum p11_op_kind kind, CK_MECHANISM_PTR m,
		  CK_OBJECT_HANDLE key);
CK_RV p11_op_update(CK_SESSION_HANDLE h, enum p11_op_kind kind, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_op_produce(CK_SESSION_HANDLE h, enum p11_op_kind kind, bool single, CK_BYTE_PTR data,
		     CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV p11_op_verify(CK_SESSION_HANDLE h, bool single, CK_BYTE_PTR data, CK_ULONG len,
		    CK_BYTE_PTR sig, CK_ULONG sig_len);
CK_RV p11_generate_random(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len);
CK_RV p11_seed_random(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len);

#endif
