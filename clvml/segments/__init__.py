"""clvml.segments"""
