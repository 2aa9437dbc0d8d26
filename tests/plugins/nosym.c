/*
 * nosym: a shared module that is not a zonegate plugin (it lacks the
 * zonegate_plugin symbol).  The host must refuse it naming the symbol.
 */
int nosym_answer(void);

int
nosym_answer(void)
{
	return 42;
}
