"""clvml.models.btyd"""
