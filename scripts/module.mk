# make demo / make demo-stop (scripts/demo): the whole stack installed
# into a throwaway Debian 12 target on this machine.
demo: all
	@scripts/demo start

demo-stop:
	@scripts/demo stop
