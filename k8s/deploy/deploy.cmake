# k8s/deploy/deploy.cmake - install rules of the systemd units and their configuration
# (included from the top-level CMakeLists.txt).
#
# `cmake --install BUILD [--prefix P]` writes P/lib/systemd/system/ayaflow-{node,collector}.service
# (systemd reads /usr/local/lib/systemd/system too) with ExecStart naming P/bin and the
# configuration in /etc/ayaflow (prefix /usr) or P/etc/ayaflow. The units are filled in at
# install time, so that --prefix given to `cmake --install` is the one they name. An
# existing configuration file is never overwritten. DESTDIR is honoured.
set(AYAFLOW_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
	"Directory of the systemd units, relative to the install prefix")

install(CODE "set(AYAFLOW_DEPLOY_DIR \"${CMAKE_CURRENT_LIST_DIR}\")
	set(AYAFLOW_UNIT_SUBDIR \"${AYAFLOW_SYSTEMD_UNIT_DIR}\")
	set(AYAFLOW_GEN_DIR \"${CMAKE_BINARY_DIR}/gen/systemd\")")
install(CODE [[
	set(AYAFLOW_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
	if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
		set(AYAFLOW_SYSCONFDIR "/etc")
	else()
		set(AYAFLOW_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
	endif()
	foreach(unit ayaflow-node ayaflow-collector)
		file(READ "${AYAFLOW_DEPLOY_DIR}/systemd/${unit}.service.in" text)
		string(CONFIGURE "${text}" text @ONLY)
		file(WRITE "${AYAFLOW_GEN_DIR}/${unit}.service" "${text}")
		file(INSTALL "${AYAFLOW_GEN_DIR}/${unit}.service"
			DESTINATION "${CMAKE_INSTALL_PREFIX}/${AYAFLOW_UNIT_SUBDIR}"
			FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
	endforeach()
	foreach(conf node collector)
		if(EXISTS "$ENV{DESTDIR}${AYAFLOW_SYSCONFDIR}/ayaflow/${conf}.yaml")
			message(STATUS "Kept: $ENV{DESTDIR}${AYAFLOW_SYSCONFDIR}/ayaflow/${conf}.yaml")
		else()
			file(INSTALL "${AYAFLOW_DEPLOY_DIR}/systemd/${conf}.yaml"
				DESTINATION "${AYAFLOW_SYSCONFDIR}/ayaflow"
				FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
		endif()
	endforeach()
]])
