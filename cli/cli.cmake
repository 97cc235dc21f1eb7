# cli/cli.cmake - ayaflowctl, the command-line client of the collector's API (included
# from the top-level CMakeLists.txt, which finds libcurl). http_client.c is the one module
# of ayaflowctl that speaks libcurl. Installs the binary, its man page and bash completion.

add_executable(ayaflowctl cli/main.c cli/http_client.c cli/output.c)
target_link_libraries(ayaflowctl PRIVATE ayaflow_lib PkgConfig::CURL PkgConfig::JANSSON)

install(TARGETS ayaflowctl RUNTIME DESTINATION bin)
install(FILES ${CMAKE_SOURCE_DIR}/cli/ayaflowctl.1 DESTINATION share/man/man1)
install(FILES ${CMAKE_SOURCE_DIR}/cli/ayaflowctl.bash-completion
	DESTINATION share/bash-completion/completions RENAME ayaflowctl)
