/* attest11 cert: a token's certificate (chain) as a PEM file that follows
 * the host's lease (attest11(1), "CERTIFICATE FILES"). */
#ifndef A11_CLI_CERT_H
#define A11_CLI_CERT_H

/* argv[0] is "cert"; returns the exit status (0 ok, 1 failure, 2 usage). */
int cert_main(int argc, char **argv);

#endif
