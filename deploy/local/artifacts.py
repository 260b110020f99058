"""Kafka and Zipkin jars from Maven Central, cached outside git.

A download is complete only once its marker file exists (written last, holding a fingerprint of
what was asked for), so an interrupted download, or a changed pom, is fetched again.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.local.processes import StackError

log = logging.getLogger(__name__)

KAFKA_POM = Path(__file__).parent / "maven" / "kafka" / "pom.xml"
ZIPKIN_VERSION = "3.6.1"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_MARKER = ".complete"
_MVN_TIMEOUT_S = 900


def kafka_version() -> str:
    """The Kafka version pinned in the pom, which stays the single place to change it."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(KAFKA_POM).getroot().findtext("m:properties/m:kafka.version", namespaces=ns)
    if not version:
        raise StackError(f"no <kafka.version> property in {KAFKA_POM}")
    return version


def ensure_kafka(cache_dir: Path) -> Path:
    """The directory holding every jar the broker needs (its classpath is `<dir>/*`)."""
    version = kafka_version()
    home = cache_dir / f"kafka-{version}"
    fingerprint = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()

    def fetch(target: Path) -> None:
        _mvn(
            [
                "-f",
                str(KAFKA_POM),
                f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={target / 'libs'}",
            ],
            f"Kafka {version}",
            cwd=target,
        )

    _ensure(home, fingerprint, fetch)
    return home / "libs"


def ensure_zipkin(cache_dir: Path) -> Path:
    """Path of the self-contained Zipkin server jar."""
    home = cache_dir / f"zipkin-{ZIPKIN_VERSION}"
    coordinates = f"io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec"

    def fetch(target: Path) -> None:
        _mvn(
            [f"{_DEPENDENCY_PLUGIN}:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={target}"],
            f"Zipkin {ZIPKIN_VERSION}",
            cwd=target,
        )

    _ensure(home, coordinates, fetch)
    return home / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"


def java_executable() -> str:
    """The `java` that runs Kafka and Zipkin (both need Java 17 or newer)."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise StackError("Java 17 or newer is needed for Kafka and Zipkin; install a JDK")
    return java


def _ensure(home: Path, fingerprint: str, fetch: Callable[[Path], None]) -> None:
    marker = home / _MARKER
    if _marker_matches(marker, fingerprint):
        return
    with _cache_lock(home.parent):
        if _marker_matches(marker, fingerprint):  # another process finished it meanwhile
            return
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        started = time.monotonic()
        fetch(home)
        marker.write_text(fingerprint)
        log.info("downloaded %s in %.1f s", home.name, time.monotonic() - started)


def _marker_matches(marker: Path, fingerprint: str) -> bool:
    return marker.is_file() and marker.read_text() == fingerprint


@contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    # Two test sessions starting at once must not download into the same directory together.
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _mvn(args: list[str], what: str, *, cwd: Path) -> None:
    """Run Maven in `cwd` (a cache directory without a pom, so no stray project is picked up)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Maven (`mvn`) is needed to download {what}; install it (apt-get install maven)")
    log.info("downloading %s from Maven Central (first run only)", what)
    result = subprocess.run(
        [mvn, "-B", "-q", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=_MVN_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StackError(f"downloading {what} with Maven failed:\n{tail}")
