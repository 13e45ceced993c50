//! lvm2's catalogue of report fields: every field `pvs`, `vgs` and `lvs`
//! know (lvm2 2.03.16), with its heading, minimum column width, section,
//! value type and description, and the help texts built from it (`-o help`,
//! and the field list lvm2 prints for an unknown selection field).

/// The section of `-o help` a field is listed in; it also says which object
/// (LV, PV, VG, segment) a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// LV fields from the metadata.
    Lv,
    /// LV fields from the kernel's device info.
    LvInfo,
    /// LV fields from the kernel's device status.
    LvStatus,
    /// `lv_attr`, which combines metadata, info and status.
    LvInfoStatus,
    /// PV fields from the label.
    Label,
    /// PV fields.
    Pv,
    /// VG fields.
    Vg,
    /// LV segment fields.
    Seg,
    /// PV segment fields.
    PvSeg,
}

impl Section {
    /// All sections in the order `-o help` lists them.
    pub const ALL: [Section; 9] = [
        Section::Lv,
        Section::LvInfo,
        Section::LvStatus,
        Section::LvInfoStatus,
        Section::Label,
        Section::Pv,
        Section::Vg,
        Section::Seg,
        Section::PvSeg,
    ];

    /// The section's title in `-o help` (before ` Fields`).
    pub fn title(self) -> &'static str {
        match self {
            Section::Lv => "Logical Volume",
            Section::LvInfo => "Logical Volume Device Info",
            Section::LvStatus => "Logical Volume Device Status",
            Section::LvInfoStatus => "Logical Volume Device Info and Status Combined",
            Section::Label => "Physical Volume Label",
            Section::Pv => "Physical Volume",
            Section::Vg => "Volume Group",
            Section::Seg => "Logical Volume Segment",
            Section::PvSeg => "Physical Volume Segment",
        }
    }

    /// The prefix of the section's `<prefix>all` name (`lv_all`, ...).
    pub fn prefix(self) -> &'static str {
        match self {
            Section::Lv | Section::LvInfo | Section::LvStatus | Section::LvInfoStatus => "lv_",
            Section::Label | Section::Pv => "pv_",
            Section::Vg => "vg_",
            Section::Seg => "seg_",
            Section::PvSeg => "pvseg_",
        }
    }
}

/// How lvm2 types a field's value: it decides alignment, how a selection
/// compares it and which selection values it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text.
    Str,
    /// A list of words, printed joined by `,`.
    StrList,
    /// An unsigned count.
    Num,
    /// A yes/no value printed as a word or nothing.
    Bin,
    /// A signed number (`-1` when not set).
    SNum,
    /// A size, printed in the report's units.
    Size,
    /// A percentage.
    Pct,
    /// A point in time.
    Time,
}

impl FieldType {
    /// The type's name in lvm2's help texts.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::StrList => "string list",
            FieldType::Num | FieldType::Bin | FieldType::SNum => "number",
            FieldType::Size => "size",
            FieldType::Pct => "percent",
            FieldType::Time => "time",
        }
    }

    /// Numbers and sizes are right-aligned in lvm2's columns, everything
    /// else (percentages too) left-aligned.
    pub fn right_aligned(self) -> bool {
        matches!(
            self,
            FieldType::Num | FieldType::Bin | FieldType::SNum | FieldType::Size
        )
    }
}

/// One field of lvm2's catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// The field's name (`lv_name`).
    pub name: &'static str,
    /// Its column heading (`LV`).
    pub heading: &'static str,
    /// Its minimum column width; the heading is cut to it when longer.
    pub width: usize,
    /// Its section.
    pub section: Section,
    /// Its value type.
    pub ty: FieldType,
    /// Its description in `-o help`.
    pub desc: &'static str,
}

impl FieldDef {
    /// The column width before values widen it: the catalogue's width, or
    /// the heading's length when the catalogue gives none.
    pub fn min_width(&self) -> usize {
        if self.width == 0 {
            self.heading.len()
        } else {
            self.width
        }
    }
}

use FieldType as T;
use Section as S;

const fn d(
    name: &'static str,
    heading: &'static str,
    width: usize,
    section: Section,
    ty: FieldType,
    desc: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        heading,
        width,
        section,
        ty,
        desc,
    }
}

/// Every field, in `-o help` order.
pub static CATALOGUE: &[FieldDef] = &[
    d("lv_uuid", "LV UUID", 38, S::Lv, T::Str, "Unique identifier."),
    d("lv_name", "LV", 4, S::Lv, T::Str, "Name.  LVs created for internal use are enclosed in brackets."),
    d("lv_full_name", "LV", 4, S::Lv, T::Str, "Full name of LV including its VG, namely VG/LV."),
    d("lv_path", "Path", 0, S::Lv, T::Str, "Full pathname for LV. Blank for internal LVs."),
    d("lv_dm_path", "DMPath", 0, S::Lv, T::Str, "Internal device-mapper pathname for LV (in /dev/mapper directory)."),
    d("lv_parent", "Parent", 0, S::Lv, T::Str, "For LVs that are components of another LV, the parent LV."),
    d("lv_layout", "Layout", 10, S::Lv, T::StrList, "LV layout."),
    d("lv_role", "Role", 10, S::Lv, T::StrList, "LV role."),
    d("lv_initial_image_sync", "InitImgSync", 10, S::Lv, T::Bin, "Set if mirror/RAID images underwent initial resynchronization."),
    d("lv_image_synced", "ImgSynced", 10, S::Lv, T::Bin, "Set if mirror/RAID image is synchronized."),
    d("lv_merging", "Merging", 10, S::Lv, T::Bin, "Set if snapshot LV is being merged to origin."),
    d("lv_converting", "Converting", 0, S::Lv, T::Bin, "Set if LV is being converted."),
    d("lv_allocation_policy", "AllocPol", 10, S::Lv, T::Str, "LV allocation policy."),
    d("lv_allocation_locked", "AllocLock", 10, S::Lv, T::Bin, "Set if LV is locked against allocation changes."),
    d("lv_fixed_minor", "FixMin", 10, S::Lv, T::Bin, "Set if LV has fixed minor number assigned."),
    d("lv_skip_activation", "SkipAct", 15, S::Lv, T::Bin, "Set if LV is skipped on activation."),
    d("lv_autoactivation", "AutoAct", 0, S::Lv, T::Bin, "Set if LV autoactivation is enabled."),
    d("lv_when_full", "WhenFull", 15, S::Lv, T::Str, "For thin pools, behavior when full."),
    d("lv_active", "Active", 0, S::Lv, T::Str, "Active state of the LV."),
    d("lv_active_locally", "ActLocal", 10, S::Lv, T::Bin, "Set if the LV is active locally."),
    d("lv_active_remotely", "ActRemote", 10, S::Lv, T::Bin, "Set if the LV is active remotely."),
    d("lv_active_exclusively", "ActExcl", 10, S::Lv, T::Bin, "Set if the LV is active exclusively."),
    d("lv_major", "Maj", 0, S::Lv, T::SNum, "Persistent major number or -1 if not persistent."),
    d("lv_minor", "Min", 0, S::Lv, T::SNum, "Persistent minor number or -1 if not persistent."),
    d("lv_read_ahead", "Rahead", 0, S::Lv, T::Size, "Read ahead setting in current units."),
    d("lv_size", "LSize", 0, S::Lv, T::Size, "Size of LV in current units."),
    d("lv_metadata_size", "MSize", 0, S::Lv, T::Size, "For thin and cache pools, the size of the LV that holds the metadata."),
    d("seg_count", "#Seg", 0, S::Lv, T::Num, "Number of segments in LV."),
    d("origin", "Origin", 0, S::Lv, T::Str, "For snapshots and thins, the origin device of this LV."),
    d("origin_uuid", "Origin UUID", 38, S::Lv, T::Str, "For snapshots and thins, the UUID of origin device of this LV."),
    d("origin_size", "OSize", 0, S::Lv, T::Size, "For snapshots, the size of the origin device of this LV."),
    d("lv_ancestors", "Ancestors", 0, S::Lv, T::StrList, "LV ancestors ignoring any stored history of the ancestry chain."),
    d("lv_full_ancestors", "FAncestors", 0, S::Lv, T::StrList, "LV ancestors including stored history of the ancestry chain."),
    d("lv_descendants", "Descendants", 0, S::Lv, T::StrList, "LV descendants ignoring any stored history of the ancestry chain."),
    d("lv_full_descendants", "FDescendants", 0, S::Lv, T::StrList, "LV descendants including stored history of the ancestry chain."),
    d("raid_mismatch_count", "Mismatches", 0, S::Lv, T::Num, "For RAID, number of mismatches found or repaired."),
    d("raid_sync_action", "SyncAction", 0, S::Lv, T::Str, "For RAID, the current synchronization action being performed."),
    d("raid_write_behind", "WBehind", 0, S::Lv, T::Num, "For RAID1, the number of outstanding writes allowed to writemostly devices."),
    d("raid_min_recovery_rate", "MinSync", 0, S::Lv, T::Num, "For RAID1, the minimum recovery I/O load in kiB/sec/disk."),
    d("raid_max_recovery_rate", "MaxSync", 0, S::Lv, T::Num, "For RAID1, the maximum recovery I/O load in kiB/sec/disk."),
    d("raidintegritymode", "IntegMode", 0, S::Lv, T::Str, "The integrity mode"),
    d("raidintegrityblocksize", "IntegBlkSize", 0, S::Lv, T::Num, "The integrity block size"),
    d("integritymismatches", "IntegMismatches", 0, S::Lv, T::Num, "The number of integrity mismatches."),
    d("move_pv", "Move", 0, S::Lv, T::Str, "For pvmove, Source PV of temporary LV created by pvmove."),
    d("move_pv_uuid", "Move UUID", 38, S::Lv, T::Str, "For pvmove, the UUID of Source PV of temporary LV created by pvmove."),
    d("convert_lv", "Convert", 0, S::Lv, T::Str, "For lvconvert, Name of temporary LV created by lvconvert."),
    d("convert_lv_uuid", "Convert UUID", 38, S::Lv, T::Str, "For lvconvert, UUID of temporary LV created by lvconvert."),
    d("mirror_log", "Log", 0, S::Lv, T::Str, "For mirrors, the LV holding the synchronisation log."),
    d("mirror_log_uuid", "Log UUID", 38, S::Lv, T::Str, "For mirrors, the UUID of the LV holding the synchronisation log."),
    d("data_lv", "Data", 0, S::Lv, T::Str, "For cache/thin/vdo pools, the LV holding the associated data."),
    d("data_lv_uuid", "Data UUID", 38, S::Lv, T::Str, "For cache/thin/vdo pools, the UUID of the LV holding the associated data."),
    d("metadata_lv", "Meta", 0, S::Lv, T::Str, "For cache/thin pools, the LV holding the associated metadata."),
    d("metadata_lv_uuid", "Meta UUID", 38, S::Lv, T::Str, "For cache/thin pools, the UUID of the LV holding the associated metadata."),
    d("pool_lv", "Pool", 0, S::Lv, T::Str, "For cache/thin/vdo volumes, the cache/thin/vdo pool LV for this volume."),
    d("pool_lv_uuid", "Pool UUID", 38, S::Lv, T::Str, "For cache/thin/vdo volumes, the UUID of the cache/thin/vdo pool LV for this volume."),
    d("lv_tags", "LV Tags", 0, S::Lv, T::StrList, "Tags, if any."),
    d("lv_profile", "LProfile", 0, S::Lv, T::Str, "Configuration profile attached to this LV."),
    d("lv_lockargs", "LLockArgs", 0, S::Lv, T::Str, "Lock args of the LV used by lvmlockd."),
    d("lv_time", "CTime", 26, S::Lv, T::Time, "Creation time of the LV, if known"),
    d("lv_time_removed", "RTime", 26, S::Lv, T::Time, "Removal time of the LV, if known"),
    d("lv_host", "Host", 10, S::Lv, T::Str, "Creation host of the LV, if known."),
    d("lv_modules", "Modules", 0, S::Lv, T::StrList, "Kernel device-mapper modules required for this LV."),
    d("lv_historical", "Historical", 0, S::Lv, T::Bin, "Set if the LV is historical."),
    d("writecache_block_size", "WCacheBlkSize", 0, S::Lv, T::Num, "The writecache block size"),
    d("lv_kernel_major", "KMaj", 0, S::LvInfo, T::SNum, "Currently assigned major number or -1 if LV is not active."),
    d("lv_kernel_minor", "KMin", 0, S::LvInfo, T::SNum, "Currently assigned minor number or -1 if LV is not active."),
    d("lv_kernel_read_ahead", "KRahead", 0, S::LvInfo, T::Size, "Currently-in-use read ahead setting in current units."),
    d("lv_permissions", "LPerms", 8, S::LvInfo, T::Str, "LV permissions."),
    d("lv_suspended", "Suspended", 10, S::LvInfo, T::Bin, "Set if LV is suspended."),
    d("lv_live_table", "LiveTable", 20, S::LvInfo, T::Bin, "Set if LV has live table present."),
    d("lv_inactive_table", "InactiveTable", 20, S::LvInfo, T::Bin, "Set if LV has inactive table present."),
    d("lv_device_open", "DevOpen", 10, S::LvInfo, T::Bin, "Set if LV device is open."),
    d("data_percent", "Data%", 6, S::LvStatus, T::Pct, "For snapshot, cache and thin pools and volumes, the percentage full if LV is active."),
    d("snap_percent", "Snap%", 6, S::LvStatus, T::Pct, "For snapshots, the percentage full if LV is active."),
    d("metadata_percent", "Meta%", 6, S::LvStatus, T::Pct, "For cache and thin pools, the percentage of metadata full if LV is active."),
    d("copy_percent", "Cpy%Sync", 0, S::LvStatus, T::Pct, "For Cache, RAID, mirrors and pvmove, current percentage in-sync."),
    d("sync_percent", "Cpy%Sync", 0, S::LvStatus, T::Pct, "For Cache, RAID, mirrors and pvmove, current percentage in-sync."),
    d("cache_total_blocks", "CacheTotalBlocks", 0, S::LvStatus, T::Num, "Total cache blocks."),
    d("cache_used_blocks", "CacheUsedBlocks", 16, S::LvStatus, T::Num, "Used cache blocks."),
    d("cache_dirty_blocks", "CacheDirtyBlocks", 0, S::LvStatus, T::Num, "Dirty cache blocks."),
    d("cache_read_hits", "CacheReadHits", 16, S::LvStatus, T::Num, "Cache read hits."),
    d("cache_read_misses", "CacheReadMisses", 16, S::LvStatus, T::Num, "Cache read misses."),
    d("cache_write_hits", "CacheWriteHits", 16, S::LvStatus, T::Num, "Cache write hits."),
    d("cache_write_misses", "CacheWriteMisses", 0, S::LvStatus, T::Num, "Cache write misses."),
    d("kernel_cache_settings", "KCacheSettings", 18, S::LvStatus, T::StrList, "Cache settings/parameters as set in kernel, including default values (cached segments only)."),
    d("kernel_cache_policy", "KCachePolicy", 18, S::LvStatus, T::Str, "Cache policy used in kernel."),
    d("kernel_metadata_format", "KMFmt", 0, S::LvStatus, T::Num, "Cache metadata format used in kernel."),
    d("lv_health_status", "Health", 15, S::LvStatus, T::Str, "LV health status."),
    d("kernel_discards", "KDiscards", 0, S::LvStatus, T::Str, "For thin pools, how discards are handled in kernel."),
    d("lv_check_needed", "CheckNeeded", 15, S::LvStatus, T::Bin, "For thin pools and cache volumes, whether metadata check is needed."),
    d("lv_merge_failed", "MergeFailed", 15, S::LvStatus, T::Bin, "Set if snapshot merge failed."),
    d("lv_snapshot_invalid", "SnapInvalid", 15, S::LvStatus, T::Bin, "Set if snapshot LV is invalid."),
    d("vdo_operating_mode", "VDOOperatingMode", 0, S::LvStatus, T::Str, "For vdo pools, its current operating mode."),
    d("vdo_compression_state", "VDOCompressionState", 0, S::LvStatus, T::Str, "For vdo pools, whether compression is running."),
    d("vdo_index_state", "VDOIndexState", 0, S::LvStatus, T::Str, "For vdo pools, state of index for deduplication."),
    d("vdo_used_size", "VDOUsedSize", 0, S::LvStatus, T::Num, "For vdo pools, currently used space."),
    d("vdo_saving_percent", "VDOSaving%", 0, S::LvStatus, T::Num, "For vdo pools, percentage of saved space."),
    d("writecache_total_blocks", "WCacheTotalBlocks", 0, S::LvStatus, T::Num, "Total writecache blocks."),
    d("writecache_free_blocks", "WCacheFreeBlocks", 0, S::LvStatus, T::Num, "Total writecache free blocks."),
    d("writecache_writeback_blocks", "WCacheWritebackBlocks", 0, S::LvStatus, T::Num, "Total writecache writeback blocks."),
    d("writecache_error", "WCacheErrors", 0, S::LvStatus, T::Num, "Total writecache errors."),
    d("lv_attr", "Attr", 0, S::LvInfoStatus, T::Str, "Various attributes - see man page."),
    d("pv_fmt", "Fmt", 0, S::Label, T::Str, "Type of metadata."),
    d("pv_uuid", "PV UUID", 38, S::Label, T::Str, "Unique identifier."),
    d("dev_size", "DevSize", 0, S::Label, T::Size, "Size of underlying device in current units."),
    d("pv_name", "PV", 10, S::Label, T::Str, "Name."),
    d("pv_major", "Maj", 0, S::Label, T::Str, "Device major number."),
    d("pv_minor", "Min", 0, S::Label, T::Str, "Device minor number."),
    d("pv_mda_free", "PMdaFree", 9, S::Label, T::Size, "Free metadata area space on this device in current units."),
    d("pv_mda_size", "PMdaSize", 9, S::Label, T::Size, "Size of smallest metadata area on this device in current units."),
    d("pv_ext_vsn", "PExtVsn", 0, S::Label, T::Num, "PV header extension version."),
    d("pe_start", "1st PE", 7, S::Pv, T::Num, "Offset to the start of data on the underlying device."),
    d("pv_size", "PSize", 0, S::Pv, T::Size, "Size of PV in current units."),
    d("pv_free", "PFree", 0, S::Pv, T::Size, "Total amount of unallocated space in current units."),
    d("pv_used", "Used", 0, S::Pv, T::Size, "Total amount of allocated space in current units."),
    d("pv_attr", "Attr", 0, S::Pv, T::Str, "Various attributes - see man page."),
    d("pv_allocatable", "Allocatable", 0, S::Pv, T::Bin, "Set if this device can be used for allocation."),
    d("pv_exported", "Exported", 10, S::Pv, T::Bin, "Set if this device is exported."),
    d("pv_missing", "Missing", 10, S::Pv, T::Bin, "Set if this device is missing in system."),
    d("pv_pe_count", "PE", 3, S::Pv, T::Num, "Total number of Physical Extents."),
    d("pv_pe_alloc_count", "Alloc", 0, S::Pv, T::Num, "Total number of allocated Physical Extents."),
    d("pv_tags", "PV Tags", 0, S::Pv, T::StrList, "Tags, if any."),
    d("pv_mda_count", "#PMda", 0, S::Pv, T::Num, "Number of metadata areas on this device."),
    d("pv_mda_used_count", "#PMdaUse", 0, S::Pv, T::Num, "Number of metadata areas in use on this device."),
    d("pv_ba_start", "BA Start", 0, S::Pv, T::Size, "Offset to the start of PV Bootloader Area on the underlying device in current units."),
    d("pv_ba_size", "BA Size", 0, S::Pv, T::Size, "Size of PV Bootloader Area in current units."),
    d("pv_in_use", "PInUse", 0, S::Pv, T::Bin, "Set if PV is used."),
    d("pv_duplicate", "Duplicate", 0, S::Pv, T::Bin, "Set if PV is an unchosen duplicate."),
    d("pv_device_id", "DeviceID", 0, S::Pv, T::Str, "Device ID such as the WWID."),
    d("pv_device_id_type", "DeviceIDType", 0, S::Pv, T::Str, "Type of device ID such as WWID."),
    d("vg_fmt", "Fmt", 0, S::Vg, T::Str, "Type of metadata."),
    d("vg_uuid", "VG UUID", 38, S::Vg, T::Str, "Unique identifier."),
    d("vg_name", "VG", 0, S::Vg, T::Str, "Name."),
    d("vg_attr", "Attr", 5, S::Vg, T::Str, "Various attributes - see man page."),
    d("vg_permissions", "VPerms", 10, S::Vg, T::Str, "VG permissions."),
    d("vg_extendable", "Extendable", 0, S::Vg, T::Bin, "Set if VG is extendable."),
    d("vg_exported", "Exported", 10, S::Vg, T::Bin, "Set if VG is exported."),
    d("vg_autoactivation", "AutoAct", 0, S::Vg, T::Bin, "Set if VG autoactivation is enabled."),
    d("vg_partial", "Partial", 10, S::Vg, T::Bin, "Set if VG is partial."),
    d("vg_allocation_policy", "AllocPol", 10, S::Vg, T::Str, "VG allocation policy."),
    d("vg_clustered", "Clustered", 10, S::Vg, T::Bin, "Set if VG is clustered."),
    d("vg_shared", "Shared", 7, S::Vg, T::Bin, "Set if VG is shared."),
    d("vg_size", "VSize", 0, S::Vg, T::Size, "Total size of VG in current units."),
    d("vg_free", "VFree", 0, S::Vg, T::Size, "Total amount of free space in current units."),
    d("vg_sysid", "SYS ID", 0, S::Vg, T::Str, "System ID of the VG indicating which host owns it."),
    d("vg_systemid", "System ID", 0, S::Vg, T::Str, "System ID of the VG indicating which host owns it."),
    d("vg_lock_type", "LockType", 0, S::Vg, T::Str, "Lock type of the VG used by lvmlockd."),
    d("vg_lock_args", "VLockArgs", 0, S::Vg, T::Str, "Lock args of the VG used by lvmlockd."),
    d("vg_extent_size", "Ext", 0, S::Vg, T::Size, "Size of Physical Extents in current units."),
    d("vg_extent_count", "#Ext", 0, S::Vg, T::Num, "Total number of Physical Extents."),
    d("vg_free_count", "Free", 0, S::Vg, T::Num, "Total number of unallocated Physical Extents."),
    d("max_lv", "MaxLV", 0, S::Vg, T::Num, "Maximum number of LVs allowed in VG or 0 if unlimited."),
    d("max_pv", "MaxPV", 0, S::Vg, T::Num, "Maximum number of PVs allowed in VG or 0 if unlimited."),
    d("pv_count", "#PV", 0, S::Vg, T::Num, "Number of PVs in VG."),
    d("vg_missing_pv_count", "#PV Missing", 0, S::Vg, T::Num, "Number of PVs in VG which are missing."),
    d("lv_count", "#LV", 0, S::Vg, T::Num, "Number of LVs."),
    d("snap_count", "#SN", 0, S::Vg, T::Num, "Number of snapshots."),
    d("vg_seqno", "Seq", 0, S::Vg, T::Num, "Revision number of internal metadata.  Incremented whenever it changes."),
    d("vg_tags", "VG Tags", 0, S::Vg, T::StrList, "Tags, if any."),
    d("vg_profile", "VProfile", 0, S::Vg, T::Str, "Configuration profile attached to this VG."),
    d("vg_mda_count", "#VMda", 0, S::Vg, T::Num, "Number of metadata areas on this VG."),
    d("vg_mda_used_count", "#VMdaUse", 0, S::Vg, T::Num, "Number of metadata areas in use on this VG."),
    d("vg_mda_free", "VMdaFree", 9, S::Vg, T::Size, "Free metadata area space for this VG in current units."),
    d("vg_mda_size", "VMdaSize", 9, S::Vg, T::Size, "Size of smallest metadata area for this VG in current units."),
    d("vg_mda_copies", "#VMdaCps", 0, S::Vg, T::Num, "Target number of in use metadata areas in the VG."),
    d("segtype", "Type", 0, S::Seg, T::Str, "Type of LV segment."),
    d("stripes", "#Str", 0, S::Seg, T::Num, "Number of stripes or mirror/raid1 legs."),
    d("data_stripes", "#DStr", 0, S::Seg, T::Num, "Number of data stripes or mirror/raid1 legs."),
    d("reshape_len", "RSize", 0, S::Seg, T::Size, "Size of out-of-place reshape space in current units."),
    d("reshape_len_le", "RSize", 0, S::Seg, T::Num, "Size of out-of-place reshape space in logical extents."),
    d("data_copies", "#Cpy", 0, S::Seg, T::Num, "Number of data copies."),
    d("data_offset", "DOff", 0, S::Seg, T::Num, "Data offset on each image device."),
    d("new_data_offset", "NOff", 0, S::Seg, T::Num, "New data offset after any reshape on each image device."),
    d("parity_chunks", "#Par", 0, S::Seg, T::Num, "Number of (rotating) parity chunks."),
    d("stripe_size", "Stripe", 0, S::Seg, T::Size, "For stripes, amount of data placed on one device before switching to the next."),
    d("region_size", "Region", 0, S::Seg, T::Size, "For mirrors/raids, the unit of data per leg when synchronizing devices."),
    d("chunk_size", "Chunk", 0, S::Seg, T::Size, "For snapshots, the unit of data used when tracking changes."),
    d("thin_count", "#Thins", 0, S::Seg, T::Num, "For thin pools, the number of thin volumes in this pool."),
    d("discards", "Discards", 0, S::Seg, T::Str, "For thin pools, how discards are handled."),
    d("cache_metadata_format", "CMFmt", 0, S::Seg, T::Num, "For cache, metadata format in use."),
    d("cache_mode", "CacheMode", 0, S::Seg, T::Str, "For cache, how writes are cached."),
    d("zero", "Zero", 0, S::Seg, T::Bin, "For thin pools and volumes, if zeroing is enabled."),
    d("transaction_id", "TransId", 0, S::Seg, T::Num, "For thin pools, the transaction id and creation transaction id for thins."),
    d("thin_id", "ThId", 0, S::Seg, T::Num, "For thin volume, the thin device id."),
    d("seg_start", "Start", 0, S::Seg, T::Size, "Offset within the LV to the start of the segment in current units."),
    d("seg_start_pe", "Start", 0, S::Seg, T::Num, "Offset within the LV to the start of the segment in physical extents."),
    d("seg_size", "SSize", 0, S::Seg, T::Size, "Size of segment in current units."),
    d("seg_size_pe", "SSize", 0, S::Seg, T::Size, "Size of segment in physical extents."),
    d("seg_tags", "Seg Tags", 0, S::Seg, T::StrList, "Tags, if any."),
    d("seg_pe_ranges", "PE Ranges", 0, S::Seg, T::StrList, "Ranges of Physical Extents of underlying devices in command line format (deprecated, use seg_le_ranges for common format)."),
    d("seg_le_ranges", "LE Ranges", 0, S::Seg, T::StrList, "Ranges of Logical Extents of underlying devices in command line format."),
    d("seg_metadata_le_ranges", "Metadata LE Ranges", 0, S::Seg, T::StrList, "Ranges of Logical Extents of underlying metadata devices in command line format."),
    d("devices", "Devices", 0, S::Seg, T::StrList, "Underlying devices used with starting extent numbers."),
    d("metadata_devices", "Metadata Devs", 0, S::Seg, T::StrList, "Underlying metadata devices used with starting extent numbers."),
    d("seg_monitor", "Monitor", 0, S::Seg, T::Str, "Dmeventd monitoring status of the segment."),
    d("cache_policy", "CachePolicy", 0, S::Seg, T::Str, "The cache policy (cached segments only)."),
    d("cache_settings", "CacheSettings", 0, S::Seg, T::StrList, "Cache settings/parameters (cached segments only)."),
    d("vdo_compression", "VDOCompression", 0, S::Seg, T::Bin, "Set for compressed LV (vdopool)."),
    d("vdo_deduplication", "VDODeduplication", 0, S::Seg, T::Bin, "Set for deduplicated LV (vdopool)."),
    d("vdo_use_metadata_hints", "VDOMetadataHints", 0, S::Seg, T::Bin, "Use REQ_SYNC for writes (vdopool)."),
    d("vdo_minimum_io_size", "VDOMinimumIOSize", 0, S::Seg, T::Num, "Minimum acceptable IO size (vdopool)."),
    d("vdo_block_map_cache_size", "VDOBlockMapCacheSize", 0, S::Seg, T::Size, "Allocated caching size (vdopool)."),
    d("vdo_block_map_era_length", "VDOBlockMapEraLength", 0, S::Seg, T::Num, "Speed of cache writes (vdopool)."),
    d("vdo_use_sparse_index", "VDOSparseIndex", 0, S::Seg, T::Bin, "Sparse indexing (vdopool)."),
    d("vdo_index_memory_size", "VDOIndexMemorySize", 0, S::Seg, T::Size, "Allocated indexing memory (vdopool)."),
    d("vdo_slab_size", "VDOSlabSize", 0, S::Seg, T::Size, "Increment size for growing (vdopool)."),
    d("vdo_ack_threads", "VDOAckThreads", 0, S::Seg, T::Num, "Acknowledging threads (vdopool)."),
    d("vdo_bio_threads", "VDOBioThreads", 0, S::Seg, T::Num, "IO submitting threads (vdopool)."),
    d("vdo_bio_rotation", "VDOBioRotation", 0, S::Seg, T::Num, "IO enqueue (vdopool)."),
    d("vdo_cpu_threads", "VDOCPUThreads", 0, S::Seg, T::Num, "CPU threads for compression and hashing (vdopool)."),
    d("vdo_hash_zone_threads", "VDOHashZoneThreads", 0, S::Seg, T::Num, "Threads for subdivide parts (vdopool)."),
    d("vdo_logical_threads", "VDOLogicalThreads", 0, S::Seg, T::Num, "Logical threads for subdivide parts (vdopool)."),
    d("vdo_physical_threads", "VDOPhysicalThreads", 0, S::Seg, T::Num, "Physical threads for subdivide parts (vdopool)."),
    d("vdo_max_discard", "VDOMaxDiscard", 0, S::Seg, T::Num, "Maximum discard size volume can recieve (vdopool)."),
    d("vdo_write_policy", "VDOWritePolicy", 0, S::Seg, T::Str, "Specified write policy (vdopool)."),
    d("vdo_header_size", "VDOHeaderSize", 0, S::Seg, T::Size, "Header size at front of vdopool."),
    d("pvseg_start", "Start", 0, S::PvSeg, T::Num, "Physical Extent number of start of segment."),
    d("pvseg_size", "SSize", 0, S::PvSeg, T::Num, "Number of extents in segment."),
];

/// The implicit field `selected`: 1 when a row passes the selection.
pub static SELECTED: FieldDef = d(
    "selected",
    "Selected",
    8,
    S::Lv,
    T::Num,
    "Set if item passes selection criteria.",
);

/// The field named `name` exactly, if the catalogue has it.
pub fn by_name(name: &str) -> Option<&'static FieldDef> {
    CATALOGUE.iter().find(|f| f.name == name)
}

/// The fields of `section`, in catalogue order.
pub fn of_section(section: Section) -> impl Iterator<Item = &'static FieldDef> {
    CATALOGUE.iter().filter(move |f| f.section == section)
}

/// Width of the name column in the help texts: the longest field name.
fn name_width() -> usize {
    CATALOGUE.iter().map(|f| f.name.len()).max().unwrap_or(0)
}

/// The field list lvm2 prints: for `-o help` (`with_all`: a
/// `<prefix>all` line opens each section) or, with the value types, before
/// the error about an unknown selection field. Every line is indented by two
/// spaces and ends with a newline, as lvm2's log lines are.
pub fn help_text(with_all: bool, with_types: bool) -> String {
    let w = name_width();
    let mut o = String::new();
    let line = |o: &mut String, name: &str, desc: &str, ty: &str| {
        o.push_str(&format!("    {name:<w$} - {desc}"));
        if with_types {
            o.push_str(&format!(" [{ty}]"));
        }
        o.push('\n');
    };
    let header = |o: &mut String, title: &str| {
        let t = format!("{title} Fields");
        o.push_str(&format!("  {t}\n  {}\n", "-".repeat(t.len())));
    };
    for sec in Section::ALL {
        header(&mut o, sec.title());
        if with_all {
            let all = format!("{}all", sec.prefix());
            o.push_str(&format!("    {all:<w$} - All fields in this section.\n"));
        }
        for f in of_section(sec) {
            line(&mut o, f.name, f.desc, f.ty.name());
        }
        o.push_str("   \n");
    }
    header(&mut o, "Special");
    line(&mut o, SELECTED.name, SELECTED.desc, "number");
    line(&mut o, "help", "Show help.", "unselectable number");
    line(&mut o, "?", "Show help.", "unselectable number");
    o.push_str("   \n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sections_complete() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        for s in Section::ALL {
            assert!(of_section(s).next().is_some(), "{s:?} has no field");
        }
    }

    #[test]
    fn width_falls_back_to_the_heading() {
        let f = by_name("lv_path").unwrap();
        assert_eq!((f.width, f.min_width()), (0, 4));
        assert_eq!(by_name("lv_uuid").unwrap().min_width(), 38);
    }
}
