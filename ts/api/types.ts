/**
 * Plain data of the typed JS API: descriptors as libusb parses them, device
 * information, transfer results and options. Field names follow libusb's
 * structs (and the USB specification) so that code and documentation written
 * for libusb carry over; arrays are plural (`interfaces`, `altsettings`,
 * `endpoints`) where libusb has a pointer and a count.
 * @module
 */

/** `struct libusb_device_descriptor`: the standard device descriptor. */
export interface DeviceDescriptor {
  /** Size of this descriptor in bytes. */
  bLength: number;
  /** Descriptor type (LIBUSB_DT_*). */
  bDescriptorType: number;
  /** USB specification release, BCD (0x0200 = USB 2.0). */
  bcdUSB: number;
  /** USB-IF class code of the device (0: each interface names its own). */
  bDeviceClass: number;
  /** USB-IF subclass code, qualified by bDeviceClass. */
  bDeviceSubClass: number;
  /** USB-IF protocol code, qualified by class and subclass. */
  bDeviceProtocol: number;
  /** Maximum packet size of endpoint 0. */
  bMaxPacketSize0: number;
  /** USB-IF vendor ID. */
  idVendor: number;
  /** Product ID. */
  idProduct: number;
  /** Device release number, BCD. */
  bcdDevice: number;
  /** Index of the manufacturer string descriptor (0: none). */
  iManufacturer: number;
  /** Index of the product string descriptor (0: none). */
  iProduct: number;
  /** Index of the serial number string descriptor (0: none). */
  iSerialNumber: number;
  /** Number of configurations. */
  bNumConfigurations: number;
}

/** `struct libusb_ss_endpoint_companion_descriptor`, for SuperSpeed endpoints. */
export interface SsEndpointCompanionDescriptor {
  /** Packets the endpoint can send or receive in a burst, minus one. */
  bMaxBurst: number;
  /** Streams (bulk) or Mult (isochronous). */
  bmAttributes: number;
  /** Bytes per service interval (periodic endpoints). */
  wBytesPerInterval: number;
}

/** `struct libusb_endpoint_descriptor`. */
export interface EndpointDescriptor {
  /** Size of this descriptor in bytes. */
  bLength: number;
  /** Descriptor type (LIBUSB_DT_*). */
  bDescriptorType: number;
  /** Address with the direction bit (0x80 = IN). */
  bEndpointAddress: number;
  /** Bits 0..1: transfer type (see {@link TransferType}); isochronous sync and usage above. */
  bmAttributes: number;
  /** Maximum packet size. */
  wMaxPacketSize: number;
  /** Polling interval (interrupt and isochronous endpoints). */
  bInterval: number;
  /** Audio devices only. */
  bRefresh: number;
  /** Audio devices only. */
  bSynchAddress: number;
  /** Class-specific descriptors that follow the endpoint descriptor. */
  extra: Uint8Array;
  /** The SuperSpeed endpoint companion descriptor, when the device has one. */
  ssCompanion?: SsEndpointCompanionDescriptor;
}

/** `struct libusb_interface_descriptor`: one alternate setting of an interface. */
export interface InterfaceDescriptor {
  /** Size of this descriptor in bytes. */
  bLength: number;
  /** Descriptor type (LIBUSB_DT_*). */
  bDescriptorType: number;
  /** Number of the interface. */
  bInterfaceNumber: number;
  /** Value of this alternate setting. */
  bAlternateSetting: number;
  /** Number of endpoints, endpoint 0 excluded. */
  bNumEndpoints: number;
  /** USB-IF class code of the interface. */
  bInterfaceClass: number;
  /** USB-IF subclass code, qualified by bInterfaceClass. */
  bInterfaceSubClass: number;
  /** USB-IF protocol code, qualified by class and subclass. */
  bInterfaceProtocol: number;
  /** Index of the string descriptor naming the interface (0: none). */
  iInterface: number;
  /** Class-specific descriptors that follow the interface descriptor (a HID descriptor, ...). */
  extra: Uint8Array;
  /** The endpoint descriptors of this alternate setting. */
  endpoints: EndpointDescriptor[];
}

/** `struct libusb_interface`: an interface and its alternate settings. */
export interface Interface {
  /** The alternate settings, in the order of the configuration descriptor. */
  altsettings: InterfaceDescriptor[];
}

/** `struct libusb_config_descriptor`. */
export interface ConfigDescriptor {
  /** Size of this descriptor in bytes. */
  bLength: number;
  /** Descriptor type (LIBUSB_DT_*). */
  bDescriptorType: number;
  /** Total length of the descriptor and everything that follows it. */
  wTotalLength: number;
  /** Number of interfaces. */
  bNumInterfaces: number;
  /** Value SET_CONFIGURATION selects this configuration with. */
  bConfigurationValue: number;
  /** Index of the string descriptor naming the configuration (0: none). */
  iConfiguration: number;
  /** Bit 6: self-powered; bit 5: remote wakeup. */
  bmAttributes: number;
  /** Maximum power in units of 2 mA (8 mA for SuperSpeed devices), as libusb names it. */
  MaxPower: number;
  /** Class-specific descriptors that follow the configuration descriptor. */
  extra: Uint8Array;
  /** The interfaces, each with its alternate settings. */
  interfaces: Interface[];
}

/** One device capability of a BOS descriptor (`struct libusb_bos_dev_capability_descriptor`). */
export interface BosDevCapability {
  /** Size of this descriptor in bytes. */
  bLength: number;
  /** Descriptor type (LIBUSB_DT_*). */
  bDescriptorType: number;
  /** 0x02 USB 2.0 extension, 0x03 SuperSpeed USB, 0x04 container ID, 0x05 platform, ... */
  bDevCapabilityType: number;
  /** The capability's bytes after its 3-byte header. */
  data: Uint8Array;
}

/** `struct libusb_bos_descriptor`: the Binary Object Store. */
export interface BosDescriptor {
  /** Size of this descriptor in bytes. */
  bLength: number;
  /** Descriptor type (LIBUSB_DT_*). */
  bDescriptorType: number;
  /** Total length of the descriptor and everything that follows it. */
  wTotalLength: number;
  /** Number of device capabilities. */
  bNumDeviceCaps: number;
  /** The device capabilities. */
  capabilities: BosDevCapability[];
}

/** `enum libusb_speed`, by name. */
export type DeviceSpeed = 'unknown' | 'low' | 'full' | 'high' | 'super' | 'super-plus' | 'super-plus-x2';

/** What libusb knows of a device without opening it. */
export interface DeviceInfo {
  /** Identifies the device within its context; never reused. */
  id: number;
  /** Number of the bus the device is on. */
  busNumber: number;
  /** Address of the device on its bus. */
  deviceAddress: number;
  /** Port numbers from the root hub down (libusb_get_port_numbers). */
  portNumbers: number[];
  /** The speed the device operates at. */
  speed: DeviceSpeed;
  /** The device descriptor. */
  deviceDescriptor: DeviceDescriptor;
  /** Every configuration libusb could parse, by index (libusb_get_config_descriptor). */
  configurations: ConfigDescriptor[];
  /** libusb_get_device_string(MANUFACTURER), when the platform knows it. */
  manufacturer?: string;
  /** libusb_get_device_string(PRODUCT). */
  product?: string;
  /** libusb_get_device_string(SERIAL_NUMBER). */
  serialNumber?: string;
}

/** libusb's log levels (`enum libusb_log_level`), by name. */
export type LogLevel = 'none' | 'error' | 'warning' | 'info' | 'debug';

/** The SETUP packet of a control transfer, without wLength (it comes from the data or the length). */
export interface ControlSetup {
  /** Direction (0x80 = IN), type and recipient bits. */
  bmRequestType: number;
  /** The request. */
  bRequest: number;
  /** Request-specific value. */
  wValue: number;
  /** Request-specific index (an interface or endpoint for those recipients). */
  wIndex: number;
}

/** Options of every transfer. */
export interface TransferOptions {
  /** Milliseconds before libusb gives up with LIBUSB_ERROR_TIMEOUT; 0 (the default) waits forever. */
  timeout?: number;
  /** Abort the transfer: libusb cancels it, and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** LIBUSB_TRANSFER_SHORT_NOT_OK: a short IN transfer is an error. */
  shortNotOk?: boolean;
  /** LIBUSB_TRANSFER_ADD_ZERO_PACKET: end an OUT transfer that fills its last packet with a zero-length packet. */
  zeroLengthPacket?: boolean;
}

/** A completed control, bulk or interrupt transfer. */
export interface TransferResult {
  /** Bytes transferred. */
  actualLength: number;
  /** IN transfers: the bytes received (`actualLength` of them). */
  data?: Uint8Array;
}

/** `enum libusb_transfer_status`, by name. */
export type TransferStatusName = 'completed' | 'error' | 'timed-out' | 'cancelled' | 'stall' | 'no-device' | 'overflow';

/** One packet of an isochronous transfer. */
export interface IsoPacketResult {
  /** How the packet fared. */
  status: TransferStatusName;
  /** Bytes transferred. */
  actualLength: number;
  /** IN transfers: the packet's bytes. */
  data?: Uint8Array;
}

/** A completed isochronous transfer: each packet has its own status. */
export interface IsoTransferResult {
  /** One result per packet, in order. */
  packets: IsoPacketResult[];
}
