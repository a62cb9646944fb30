"""Google Classroom: courses and their materials (Drive files, YouTube videos, links) as items."""
