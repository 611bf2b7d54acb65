"""Copy a directory into a dated archive."""

import datetime
import shutil


def archive_name(prefix):
    """Name of today's archive."""
    return f"{prefix}-{datetime.date.today().isoformat()}"


def make_backup(src, prefix="backup"):
    """Write src into a zip file named after today's date."""
    return shutil.make_archive(archive_name(prefix), "zip", src)
