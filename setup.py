"""Installation of pdafpy: the framework (``pdafpy``) and the models it drives (``models``).

numpy, scipy, mpi4py, petsc4py, h5py and netCDF4 are deliberately not listed as pip requirements:
on Debian they come from the distribution (``python3-*`` packages built against one numpy), and on
a cluster from the site's modules. ``make setup`` (see README.md) installs them.
"""

from setuptools import find_packages, setup

setup(
    name="pdafpy",
    version="0.1.0",
    description="MPI-parallel ensemble data assimilation in the manner of PDAF, "
                "for land-surface and subsurface hydrology",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="LGPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["pdafpy", "pdafpy.*", "models", "models.*"]),
    package_data={"models.landda": ["*.toml"]},
    install_requires=[],
    extras_require={"test": ["pytest", "pytest-mpi"]},
    entry_points={
        "console_scripts": ["pdafpy = pdafpy.cli:main"],
        "pdafpy.models": [
            "pdaf_tutorial = models.pdaf_tutorial:TutorialModel",
            "lorenz96 = models.lorenz96:Lorenz96Model",
            "richards = models.richards.model:RichardsModel",
            "coupled = models.coupled:CoupledModel",
            "land = models.standalone_land:StandaloneLandModel",
        ],
        "pdafpy.experiments": [
            "coupled = models.landda.experiment:LandTwinExperiment",
            "land = models.landda.standalone:StandaloneLandExperiment",
        ],
        "pdafpy.observations": [
            "grid_point = pdafpy.obs.grid_point:GridPointObservations",
            "surface_soil_moisture = models.landda.obs_surface_soil_moisture:SurfaceSoilMoisture",
            "groundwater_level = models.landda.obs_groundwater_level:GroundwaterLevel",
            "satellite_soil_moisture = "
            "models.landda.obs_satellite_soil_moisture:SatelliteSoilMoisture",
            "crns_soil_moisture = models.landda.obs_crns:CRNSSoilMoisture",
            "leaf_area_index = models.landda.obs_leaf_area_index:LeafAreaIndex",
            "vegetation_optical_depth = models.landda.obs_vod:VegetationOpticalDepth",
        ],
        "pdafpy.products": [
            "smap_l2 = models.products.smap:read_l2",
            "smap_l3 = models.products.smap:read_l3",
            "ascat = models.products.ascat:read",
            "cgls_lai = models.products.cgls_lai:read",
            "lpdr_vod = models.products.lpdr_vod:read",
            "crns = models.products.stations:read_crns",
            "wells = models.products.stations:read_wells",
        ],
        "pdafpy.calibrate": [
            "bias = pdafpy.obs.calibration:main",
            "vod = models.landda.vod_calibration:main",
            "sekf = models.landda.sekf_calibration:main",
        ],
        "pdafpy.report": [
            "coupled = models.landda.report:write_report",
            "land = models.landda.report:write_report",
        ],
        "pdafpy.commands": [
            "tutorial = models.pdaf_tutorial_cli:main",
            "convert = models.products.convert:main",
            "calibrate = pdafpy.obs.calibrate_cli:main",
            "study = pdafpy.study:main",
        ],
        "pdafpy.bench": [
            "l96 = models.lorenz96_benchmark:main",
        ],
        "pdafpy.verify": [
            "tutorial = pdafpy.verify_tutorial:main",
            "richards = models.richards.verify:main",
            "coupled = models.coupled_verify:main",
            "twin = models.landda.verify_twin:main",
            "fuzz = pdafpy.verify_fuzz:main",
            "faults = models.landda.verify_faults:main",
            "soak = models.landda.verify_soak:main",
            "observation-types = models.landda.verify_observation_types:main",
            "analysis-modules = models.landda.verify_analysis_modules:main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Hydrology",
        "Intended Audience :: Science/Research",
    ],
)
