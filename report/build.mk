# report/ — `heaplab report`: the document model, SVG figures, sections.

REPORT_SRCS := report/report.c report/doc.c report/svg.c report/sections.c report/traced.c \
	report/sections_phases.c
TOOL_OBJS += $(REPORT_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_LIBS += -lm
TESTS += $(wildcard report/tests/*.t)
BENCHES += report/bench/report-time.sh
