"""Courses: one builder turns a Classroom course or a folder into sections of ordered lessons
with attachments, plus each person's progress through them.

Part of the catalog: imports base, media and the rest of the catalog (never people: a user is
just an id here).
"""
