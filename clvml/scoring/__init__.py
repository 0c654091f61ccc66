"""clvml.scoring"""
