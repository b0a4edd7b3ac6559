# user/common: the libraries every tool shares (procmaps, ELF symbols and the
# per-process symbolizer, demangling, histograms, strict parsing, JSON).
# Tools link $(COMMON_OBJS) and add $(COMMON_LIBS) before $(TOOL_LIBS).
#
# __cxa_demangle comes from the C++ runtime; it is linked statically so that
# the tools run on a machine without libstdc++ -dev files (only the demangler
# object is pulled in: it needs nothing but malloc and the string functions).
COMMON_SRCS := $(wildcard user/common/*.c)
COMMON_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRCS))
ifeq ($(STATIC),1)
COMMON_LIBS := -lstdc++
else
COMMON_LIBS := -Wl,-Bstatic -lstdc++ -Wl,-Bdynamic
endif

# Unit tests (tests/unit/test_X.c): each links the whole library.
COMMON_TESTS := procmaps elfsym symres demangle hist parse json
$(foreach t,$(COMMON_TESTS),$(eval UNIT_OBJS_test_$(t) := $(COMMON_OBJS)))
$(foreach t,$(COMMON_TESTS),$(eval UNIT_LIBS_test_$(t) := $(COMMON_LIBS)))

# Fixtures for the ELF tests, next to the test binaries: a non-PIE
# executable (ET_EXEC, no load bias) and a shared object whose .text is moved
# away from its file offset (st_value != file offset, as lld lays out
# libraries) and that defines a symbol in two versions.
COMMON_FIXTURES := $(TESTBIN)/unit/fixtures/elfsym_nopie $(TESTBIN)/unit/fixtures/libelfsym_fixture.so
$(TESTBIN)/unit/fixtures/elfsym_nopie: tests/unit/fixtures/elfsym_nopie.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -g -fno-pie -no-pie -o $@ $<

$(TESTBIN)/unit/fixtures/libelfsym_fixture.so: tests/unit/fixtures/elfsym_lib.c \
		tests/unit/fixtures/elfsym_lib.map | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -g -fPIC -shared -Wl,--version-script=tests/unit/fixtures/elfsym_lib.map \
		-Wl,--section-start=.text=0x40000 -o $@ $<

$(TESTBIN)/unit/test_elfsym $(TESTBIN)/unit/test_symres: | $(COMMON_FIXTURES)
