# user/common: build rules (see the top Makefile for the shared variables).
