# tests/: cmocka unit tests (tests/unit/test_X.c -> build/tests/unit/test_X),
# end-to-end scripts (tests/e2e/*.sh, run as they are) and libFuzzer targets
# (tests/fuzz/fuzz_X.c -> build/tests/fuzz/fuzz_X). A unit test links the
# objects its part lists in UNIT_OBJS_test_X (set in that part's build.mk), plus
# cmocka; a fuzz target links FUZZ_OBJS_fuzz_X built with the fuzzer's
# instrumentation, and replays tests/fuzz/regress/fuzz_X/ before fuzzing.
# Test-only shared libraries that end-to-end scripts preload
# (tests/e2e/fixtures/X.c -> build/tests/fixtures/libX.so) are built here too.
# Tests needing root, BPF or a GPU exit 77 with a reason. Under SAN=LIST the
# unit tests are built with those sanitizers like everything else (the top
# Makefile); the fuzz targets always carry ASan and UBSan.

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(TESTBIN)/unit/%,$(UNIT_SRCS))
TEST_BINS += $(UNIT_BINS)

.SECONDEXPANSION:
$(TESTBIN)/unit/%: $(OBJ)/tests/unit/%.o $$(UNIT_OBJS_$$*)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(UNIT_LIBS_$*) $(TOOL_LIBS)

# Fixtures: no tests themselves (run.sh runs build/tests/unit and fuzz only).
FIXTURE_SRCS := $(wildcard tests/e2e/fixtures/*.c)
FIXTURE_LIBS := $(patsubst tests/e2e/fixtures/%.c,$(TESTBIN)/fixtures/lib%.so,$(FIXTURE_SRCS))
TEST_BINS += $(FIXTURE_LIBS)

$(TESTBIN)/fixtures/lib%.so: $(OBJ)/tests/e2e/fixtures/%.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -o $@ $^ -ldl

# Programs the capture tests run (tests/e2e/progs/X.c -> build/tests/progs/X),
# linked with the agent as an application would link it (-lllminstr).
PROG_SRCS := $(wildcard tests/e2e/progs/*.c)
PROG_BINS := $(patsubst tests/e2e/progs/%.c,$(TESTBIN)/progs/%,$(PROG_SRCS))
TEST_BINS += $(PROG_BINS)
$(OBJ)/tests/e2e/progs/%.o: CPPFLAGS += -Iuser/agent

$(TESTBIN)/progs/%: $(OBJ)/tests/e2e/progs/%.o $(LIB)/libllminstr.so
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -L$(LIB) -lllminstr -Wl,-rpath,'$$ORIGIN/../../lib' -lm

# Fuzz targets: clang with libFuzzer and ASan/UBSan; the sources they test are
# compiled again with the same instrumentation under build/obj/fuzz/.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS += $(patsubst tests/fuzz/%.c,$(TESTBIN)/fuzz/%,$(FUZZ_SRCS))
# A literal % for patsubst inside the second expansion of a pattern rule,
# where make would otherwise put the stem in its place.
fuzz_pct := %
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -D_GNU_SOURCE -Iuser -Ibpf -I$(GEN)

$(OBJ)/fuzz/%.o: %.c | $(DEPS_STAMP)
	$(call msg,CC-FUZZ,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(TESTBIN)/fuzz/%: $(OBJ)/fuzz/tests/fuzz/%.o $$(patsubst $(OBJ)/$$(fuzz_pct),$(OBJ)/fuzz/$$(fuzz_pct),$$(FUZZ_OBJS_$$*))
	$(call msg,LD-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FUZZ_LIBS_$*) -lzstd -lpthread -lm
